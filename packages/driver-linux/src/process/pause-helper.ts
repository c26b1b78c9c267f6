/**
 * The spawn helper's `pause` mode (Perl, appended to the helper's program): a pod
 * sandbox's namespace holder without a runtime or a monitor program. Two forks of the
 * helper, no program started:
 *
 * - the monitor (conmon's part): a session of its own, every inherited descriptor closed
 *   but its sync pipe; it makes the PID namespace the pause is born into, reports the
 *   pause's pid and its own on the sync pipe (`{"data": pid, "monitor": pid}`, or
 *   `{"data": -1, "message": ...}`), then waits for the pause and writes its exit status to
 *   the exit file (`file`), as conmon does.
 * - the pause (PID 1 of that namespace): joins the cgroups, the network namespace, makes
 *   its mount, UTS and IPC namespaces, sets the hostname and the sysctls, moves into an
 *   empty 4 KiB tmpfs of mode 0555 as its root (pivot_root, so /proc/1/root shows a pod's
 *   containers nothing of the host), drops to nobody with no_new_privs, names itself
 *   `pause`, and sleeps; it reaps what is orphaned to it and exits 0 on SIGTERM or SIGINT.
 *
 * Request: `file` the exit file, `cwd` an existing directory the tmpfs is mounted on (in
 * the pause's own mount namespace), args `key=value`: the syscall numbers (unshare, setns,
 * mount, umount2, pivot_root, sethostname, prctl), `flags` (CLONE_NEW* the pause unshares),
 * `pidns` (1: a new PID namespace), `netns` (a path to join, or empty), `hostname`,
 * `name` (the monitor's command line names the container), and any number of
 * `cgroup=<cgroup.procs path>` and `sysctl=<path under /proc/sys>=<value>`.
 */
export const PAUSE_SOURCE = String.raw`
sub json_string {
  my $s = $_[0];
  $s =~ s/([\\"])/\\$1/g;
  $s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord($1))/ge;
  return "\"$s\"";
}
sub start_pause {
  my ($r) = @_;
  my (%o, @cgroups, @sysctls);
  for my $a (@{$r->{args}}) {
    my ($k, $v) = split(/=/, $a, 2);
    if ($k eq 'cgroup') { push @cgroups, $v; } elsif ($k eq 'sysctl') { push @sysctls, $v; } else { $o{$k} = defined $v ? $v : ''; }
  }
  pipe(my $sy_r, my $sy_w) or return reply($r->{id}, -1, undef, '', '', "pipe: $!");
  my $pid = fork();
  if (!defined $pid) { return reply($r->{id}, -1, undef, '', '', "fork: $!"); }
  if ($pid == 0) {
    close($sy_r);
    eval { pause_monitor($r, \%o, \@cgroups, \@sysctls, $sy_w); };
    syswrite($sy_w, '{"data": -1, "message": ' . json_string("pause monitor: $@") . "}\n");
    POSIX::_exit(1);
  }
  close($sy_w);
  add_job($pid, $r, out => $sy_r);
}
sub pause_monitor {
  my ($r, $o, $cgroups, $sysctls, $sy_w) = @_;
  $SIG{CHLD} = 'DEFAULT';
  my $say = sub { syswrite($sy_w, $_[0] . "\n"); };
  my $fail = sub { $say->('{"data": -1, "message": ' . json_string($_[0]) . '}'); POSIX::_exit(1); };
  POSIX::setsid();
  $0 = "pause-monitor $o->{name}";
  # Perl's own handles are closed with close(), not under it: PerlIO counts its users of a
  # descriptor, and one closed behind its back would keep a reused number open forever
  for my $p (values %pipes) { close($p->[2]); }
  %pipes = ();
  # what is left is not Perl's (inherited by the helper from whoever started the daemon)
  opendir(my $d, '/proc/self/fd') or $fail->("/proc/self/fd: $!");
  my @fds = grep { /^\d+$/ && $_ > 2 && $_ != fileno($sy_w) } readdir($d);
  closedir($d);
  POSIX::close($_) for @fds;
  open(STDIN, '<', '/dev/null'); open(STDOUT, '>', '/dev/null'); open(STDERR, '>', '/dev/null');
  if ($o->{pidns}) { syscall($o->{unshare} + 0, 0x20000000) == 0 or $fail->("unshare(CLONE_NEWPID): $!"); }
  pipe(my $st_r, my $st_w) or $fail->("pipe: $!");
  my $pid = fork();
  defined $pid or $fail->("fork: $!");
  if ($pid == 0) {
    close($st_r); close($sy_w);
    # a Perl error is a failure to report too (pause_process only returns by dying)
    eval { pause_process($r, $o, $cgroups, $sysctls, $st_w); };
    syswrite($st_w, "pause: $@");
    POSIX::_exit(1);
  }
  close($st_w);
  my $err = '';
  while (sysread($st_r, my $b, 512)) { $err .= $b; }
  close($st_r);
  if ($err ne '') { waitpid($pid, 0); $fail->($err); }
  $say->('{"data": ' . $pid . ', "monitor": ' . POSIX::getpid() . '}');
  close($sy_w);
  waitpid($pid, 0);
  my $st = $?;
  my $code = ($st & 127) ? 128 + ($st & 127) : ($st >> 8);
  if (open(my $h, '>', "$r->{file}.tmp")) { print $h $code; close($h); rename("$r->{file}.tmp", $r->{file}); }
  POSIX::_exit(0);
}
sub pause_process {
  my ($r, $o, $cgroups, $sysctls, $st_w) = @_;
  my $fail = sub { syswrite($st_w, $_[0]); POSIX::_exit(1); };
  for my $f (@$cgroups) {
    open(my $h, '>', $f) or $fail->("$f: $!");
    defined(syswrite($h, '0')) or $fail->("$f: $!");
    close($h);
  }
  if ($o->{netns} ne '') {
    open(my $n, '<', $o->{netns}) or $fail->("$o->{netns}: $!");
    syscall($o->{setns} + 0, fileno($n), 0x40000000) == 0 or $fail->("setns $o->{netns}: $!");
    close($n);
  }
  syscall($o->{unshare} + 0, $o->{flags} + 0) == 0 or $fail->("unshare: $!");
  if ($o->{hostname} ne '') { syscall($o->{sethostname} + 0, $o->{hostname}, length($o->{hostname})) == 0 or $fail->("sethostname: $!"); }
  for my $s (@$sysctls) {
    my ($path, $value) = $s =~ /^([^=]*)=(.*)$/s or $fail->("bad sysctl $s");
    open(my $h, '>', $path) or $fail->("sysctl $path: $!");
    defined(syswrite($h, $value)) or $fail->("sysctl $path: $!");
    close($h) or $fail->("sysctl $path: $!");
  }
  # syscall() wants its string arguments writable: variables, not literals
  my ($none, $slash, $tmpfs, $tmpfs_data, $dot, $name) = ('none', '/', 'tmpfs', 'size=4k,mode=0555', '.', 'pause');
  # MS_REC|MS_PRIVATE; then MS_NOSUID|MS_NODEV|MS_NOEXEC
  syscall($o->{mount} + 0, $none, $slash, 0, 0x44000, 0) == 0 or $fail->("mount --make-rprivate /: $!");
  syscall($o->{mount} + 0, $tmpfs, $r->{cwd}, $tmpfs, 14, $tmpfs_data) == 0 or $fail->("mount tmpfs on $r->{cwd}: $!");
  chdir($r->{cwd}) or $fail->("chdir $r->{cwd}: $!");
  syscall($o->{pivot_root} + 0, $dot, $dot) == 0 or $fail->("pivot_root: $!");
  syscall($o->{umount2} + 0, $dot, 2) == 0 or $fail->("umount the old root: $!");
  chdir('/');
  # PR_SET_NO_NEW_PRIVS, then nobody (every capability goes with uid 0)
  syscall($o->{prctl} + 0, 38, 1, 0, 0, 0) == 0 or $fail->("no_new_privs: $!");
  $) = '65534 65534';
  POSIX::setgid(65534) or $fail->("setgid: $!");
  POSIX::setuid(65534) or $fail->("setuid: $!");
  ($< == 65534 && $> == 65534) or $fail->('still privileged');
  # PR_SET_NAME: pgrep and ps in the pod see "pause"
  syscall($o->{prctl} + 0, 15, $name, 0, 0, 0);
  $0 = 'pause';
  $SIG{TERM} = $SIG{INT} = sub { POSIX::_exit(0); };
  $SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0; };
  $SIG{PIPE} = 'DEFAULT';
  close($st_w);
  while (1) { sleep(3600); }
}
`;
