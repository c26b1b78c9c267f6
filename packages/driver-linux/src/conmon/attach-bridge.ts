/**
 * conmon's attach socket is SOCK_SEQPACKET, which Node's net module cannot open.
 * This small Perl program (perl-base is part of every Debian/Ubuntu system) bridges
 * it: each packet conmon sends (first byte = stream: 1 stdin echo, 2 stdout, 3
 * stderr) is written to stdout as a 4-byte big-endian length plus the packet; bytes
 * on stdin are sent to the socket (conmon forwards them to the container's stdin);
 * EOF on stdin shuts the socket's write side (conmon then closes the container's
 * stdin). It chdirs to the socket's directory to stay under the 108-byte path limit.
 */
export const ATTACH_BRIDGE_SOURCE = String.raw`use strict;
use warnings;
use Socket;
use IO::Select;
use File::Basename;
my $path = shift or die "usage: bridge SOCKET\n";
chdir(dirname($path)) or die "chdir: $!\n";
socket(my $s, AF_UNIX, SOCK_SEQPACKET, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_un(basename($path))) or die "connect: $!\n";
binmode(STDOUT);
binmode(STDIN);
print STDERR "connected\n";
my $sel = IO::Select->new($s, \*STDIN);
sub out_all {
  my ($data) = @_;
  my $off = 0;
  while ($off < length($data)) {
    my $w = syswrite(STDOUT, $data, length($data) - $off, $off);
    exit(0) unless defined $w;
    $off += $w;
  }
}
while (1) {
  for my $fh ($sel->can_read) {
    if ($fh == $s) {
      my $buf = '';
      my $r = sysread($s, $buf, 65536);
      exit(0) if !$r;
      out_all(pack('N', length($buf)) . $buf);
    } else {
      my $buf = '';
      my $r = sysread(STDIN, $buf, 8192);
      if (!$r) { shutdown($s, 1); $sel->remove(\*STDIN); next; }
      my $off = 0;
      while ($off < length($buf)) {
        my $w = send($s, substr($buf, $off, 8192), 0);
        exit(0) unless defined $w;
        $off += $w;
      }
    }
  }
}
`;
