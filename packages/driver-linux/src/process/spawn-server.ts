import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BerthError } from '@berth/image-format';
import { PAUSE_SOURCE } from './pause-helper.js';

/**
 * Forking is what a child process costs a daemon: node blocks its main thread while the
 * kernel copies the page tables, ~2.5 ms at 95 MB RSS (0.65 ms at 44 MB) — per `mount`,
 * `crun start`, CNI plugin. This small Perl process (perl-base is on every Debian/Ubuntu
 * system; ~5 MB, so its forks are cheap) runs programs for the daemon instead.
 *
 * Protocol, one line each way, every string hex-encoded (binary-safe):
 *   request:  mode id timeoutMs file cwd|- stdin nargs args... nenv env...
 *   response: id code signal|- stdout stderr error|-
 * mode `run`: to completion; `error` is set when it could not be started (errno text).
 * mode `daemon` (conmon): a new session, stdin and stdout on /dev/null, fd 3 a sync pipe
 * (_OCI_SYNCPIPE); answered as soon as the first message arrives on it (in `stdout`,
 * with `stderr` so far), while the program runs on; the helper still reaps it.
 * mode `netns` (file = the path, args = unshare and mount syscall numbers): a new network
 * namespace with loopback up, bind-mounted on the path (what `unshare --net=PATH ip link
 * set lo up` does, without two programs).
 * mode `mount` (file = the target, cwd = where relative paths in the data resolve, args =
 * the mount syscall number, source, fs type, flags, data): mount(2) in a child, what
 * mount(8) would do for an overlay, without a program.
 * mode `umount` (file = the target, args = the umount2 syscall number, flags): umount2(2)
 * in a child, what umount(8) does, without a program; the errno text on failure.
 * mode `pause`: a pod sandbox's pause process and its monitor, answered like `daemon`
 * (pause-helper.ts).
 * The helper exits when its stdin closes (the daemon went away).
 */
const HELPER_SOURCE = String.raw`use strict;
use warnings;
use POSIX qw(:sys_wait_h);
use IO::Select;
binmode(STDIN); binmode(STDOUT);
$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = sub {};
sub hx { return pack('H*', $_[0]); }
sub ux { return unpack('H*', $_[0]); }
my $sel = IO::Select->new(\*STDIN);
my (%jobs, %pipes, $inbuf);
$inbuf = '';
sub reply {
  my ($id, $code, $sig, $out, $err, $fail) = @_;
  my $line = join(' ', $id, $code, defined $sig ? $sig : '-', ux($out), ux($err), defined $fail ? ux($fail) : '-') . "\n";
  my $off = 0;
  while ($off < length($line)) {
    my $w = syswrite(STDOUT, $line, length($line) - $off, $off);
    exit(0) unless defined $w;
    $off += $w;
  }
}
sub parse_request {
  my @f = split(/ /, $_[0]);
  my %r = (mode => shift @f, id => shift @f, timeout => shift @f, file => hx(shift @f));
  my $cwd = shift @f;
  $r{cwd} = $cwd eq '-' ? undef : hx($cwd);
  $r{input} = hx(shift @f);
  my $na = shift @f;
  $r{args} = [map { hx($_) } splice(@f, 0, $na)];
  my $ne = shift @f;
  $r{env} = [map { hx($_) } splice(@f, 0, $ne)];
  return \%r;
}
# in the child: cwd, exactly the given environment, then the program; a reason on failure
sub exec_program {
  my ($r, $fail) = @_;
  $SIG{PIPE} = 'DEFAULT';
  $SIG{CHLD} = 'DEFAULT';
  if (defined $r->{cwd} && !chdir($r->{cwd})) { $fail->("chdir $r->{cwd}: $!"); }
  %ENV = ();
  for my $kv (@{$r->{env}}) { my ($k, $v) = split(/=/, $kv, 2); $ENV{$k} = defined $v ? $v : ''; }
  { no warnings 'exec'; exec { $r->{file} } $r->{file}, @{$r->{args}}; }
  $fail->("$!");
}
# watched by the main loop: answered when its pipes close and it is reaped (or, daemon, at its sync message)
sub add_job {
  my ($pid, $r, %pipes_of) = @_;
  $jobs{$pid} = { id => $r->{id}, out => '', err => '', open => scalar(keys %pipes_of), daemon => $r->{mode} eq 'daemon' || $r->{mode} eq 'pause',
    deadline => ($r->{timeout} || 0) > 0 ? time() + $r->{timeout} / 1000 : undef };
  for my $which (keys %pipes_of) {
    my $h = $pipes_of{$which};
    $pipes{fileno($h)} = [$pid, $which, $h];
    $sel->add($h);
  }
}
sub start_job {
  my $r = parse_request($_[0]);
  return start_daemon($r) if $r->{mode} eq 'daemon';
  return make_netns($r) if $r->{mode} eq 'netns';
  return do_mount($r) if $r->{mode} eq 'mount';
  return do_umount($r) if $r->{mode} eq 'umount';
  return start_pause($r) if $r->{mode} eq 'pause';
  my $id = $r->{id};
  my ($in_r, $in_w, $out_r, $out_w, $err_r, $err_w, $st_r, $st_w);
  unless (pipe($in_r, $in_w) && pipe($out_r, $out_w) && pipe($err_r, $err_w) && pipe($st_r, $st_w)) {
    return reply($id, -1, undef, '', '', "pipe: $!");
  }
  my $pid = fork();
  if (!defined $pid) { return reply($id, -1, undef, '', '', "fork: $!"); }
  if ($pid == 0) {
    open(STDIN, '<&', $in_r) or POSIX::_exit(127);
    open(STDOUT, '>&', $out_w) or POSIX::_exit(127);
    open(STDERR, '>&', $err_w) or POSIX::_exit(127);
    exec_program($r, sub { syswrite($st_w, $_[0]); POSIX::_exit(127); });
  }
  close($in_r); close($out_w); close($err_w); close($st_w);
  # the status pipe is close-on-exec: EOF means the program started, bytes mean it did not
  my $failed = '';
  while (sysread($st_r, my $b, 512)) { $failed .= $b; }
  close($st_r);
  if ($failed ne '') {
    close($in_w); close($out_r); close($err_r);
    waitpid($pid, 0);
    return reply($id, -1, undef, '', '', $failed);
  }
  my $input = $r->{input};
  my $off = 0;
  while ($off < length($input)) {
    my $w = syswrite($in_w, $input, length($input) - $off, $off);
    last unless defined $w;
    $off += $w;
  }
  close($in_w);
  add_job($pid, $r, out => $out_r, err => $err_r);
}
sub make_netns {
  my ($r) = @_;
  my ($path, $id) = ($r->{file}, $r->{id});
  my ($sys_unshare, $sys_mount) = @{$r->{args}};
  pipe(my $st_r, my $st_w) or return reply($id, -1, undef, '', '', "pipe: $!");
  my $pid = fork();
  if (!defined $pid) { return reply($id, -1, undef, '', '', "fork: $!"); }
  if ($pid == 0) {
    my $fail = sub { syswrite($st_w, $_[0]); POSIX::_exit(1); };
    syscall($sys_unshare + 0, 0x40000000) == 0 or $fail->("unshare: $!");
    my ($src, $none) = ('/proc/self/ns/net', 'none');
    syscall($sys_mount + 0, $src, $path, $none, 4096, 0) == 0 or $fail->("mount $path: $!");
    socket(my $s, 2, 2, 0) or $fail->("socket: $!");
    my $ifr = pack('a16 x24', 'lo');
    ioctl($s, 0x8913, $ifr) or $fail->("SIOCGIFFLAGS lo: $!");
    my $flags = unpack('x16 s', $ifr) | 1;
    $ifr = pack('a16 s x22', 'lo', $flags);
    ioctl($s, 0x8914, $ifr) or $fail->("SIOCSIFFLAGS lo: $!");
    POSIX::_exit(0);
  }
  close($st_w);
  # answered like a run job: exit status, and the reason on its error pipe
  add_job($pid, $r, err => $st_r);
}
sub do_mount {
  my ($r) = @_;
  my $id = $r->{id};
  my ($sys_mount, $src, $type, $flags, $data) = @{$r->{args}};
  pipe(my $st_r, my $st_w) or return reply($id, -1, undef, '', '', "pipe: $!");
  my $pid = fork();
  if (!defined $pid) { return reply($id, -1, undef, '', '', "fork: $!"); }
  if ($pid == 0) {
    my $fail = sub { syswrite($st_w, $_[0]); POSIX::_exit(1); };
    if (defined $r->{cwd}) { chdir($r->{cwd}) or $fail->("chdir $r->{cwd}: $!"); }
    syscall($sys_mount + 0, $src, $r->{file}, $type, $flags + 0, $data) == 0 or $fail->("mount: $!");
    POSIX::_exit(0);
  }
  close($st_w);
  add_job($pid, $r, err => $st_r);
}
sub do_umount {
  my ($r) = @_;
  my ($sys_umount2, $flags) = @{$r->{args}};
  pipe(my $st_r, my $st_w) or return reply($r->{id}, -1, undef, '', '', "pipe: $!");
  my $pid = fork();
  if (!defined $pid) { return reply($r->{id}, -1, undef, '', '', "fork: $!"); }
  if ($pid == 0) {
    syscall($sys_umount2 + 0, $r->{file}, $flags + 0) == 0 or do { syswrite($st_w, "$!"); POSIX::_exit(1); };
    POSIX::_exit(0);
  }
  close($st_w);
  add_job($pid, $r, err => $st_r);
}
sub start_daemon {
  my ($r) = @_;
  my $id = $r->{id};
  my ($err_r, $err_w, $sy_r, $sy_w);
  unless (pipe($err_r, $err_w) && pipe($sy_r, $sy_w)) { return reply($id, -1, undef, '', '', "pipe: $!"); }
  my $pid = fork();
  if (!defined $pid) { return reply($id, -1, undef, '', '', "fork: $!"); }
  if ($pid == 0) {
    POSIX::setsid();
    open(STDIN, '<', '/dev/null') or POSIX::_exit(127);
    open(STDOUT, '>', '/dev/null') or POSIX::_exit(127);
    open(STDERR, '>&', $err_w) or POSIX::_exit(127);
    # fd 3, inherited across exec (dup2 clears close-on-exec; a pipe already at 3 keeps it)
    if (fileno($sy_w) == 3) { fcntl($sy_w, 2, 0); } else { POSIX::dup2(fileno($sy_w), 3) or POSIX::_exit(127); }
    exec_program($r, sub { print STDERR ($_[0] =~ /^chdir / ? $_[0] : "cannot run $r->{file}: $_[0]") . "\n"; POSIX::_exit(127); });
  }
  close($err_w); close($sy_w);
  add_job($pid, $r, out => $sy_r, err => $err_r);
}
# a daemon job is answered at its first sync message (or when the pipe closes without one)
sub answer_daemon {
  my ($pid) = @_;
  my $j = $jobs{$pid};
  return if $j->{replied};
  return unless $j->{out} =~ /"data"\s*:\s*-?\d+[^\n]*\n/ || $j->{out} =~ /\}\s*$/ || $j->{sync_eof};
  $j->{replied} = 1;
  delete $j->{deadline};
  for my $fd (keys %pipes) {
    my ($p, undef, $h) = @{$pipes{$fd}};
    next unless $p == $pid;
    $sel->remove($h);
    delete $pipes{$fd};
    close($h);
  }
  $j->{open} = 0;
  reply($j->{id}, 0, undef, $j->{out}, $j->{err}, undef);
}
sub finish {
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    my $j = $jobs{$pid} or next;
    $j->{status} = $?;
  }
  for my $pid (keys %jobs) {
    my $j = $jobs{$pid};
    if ($j->{daemon}) { answer_daemon($pid); delete $jobs{$pid} if $j->{replied} && defined $j->{status}; next; }
    next if $j->{open} > 0 || !defined $j->{status};
    delete $jobs{$pid};
    my $st = $j->{status};
    my ($code, $sig) = ($st & 127) ? (128 + ($st & 127), $st & 127) : ($st >> 8, undef);
    reply($j->{id}, $code, $sig, $j->{out}, $j->{err}, undef);
  }
}
my $closing = 0;
while (1) {
  my $wait;
  for my $j (values %jobs) {
    next unless defined $j->{deadline};
    my $left = $j->{deadline} - time();
    $wait = $left if !defined $wait || $left < $wait;
  }
  # a job whose pipes closed before it was reaped: look again soon
  for my $j (values %jobs) { $wait = 0.005 if $j->{open} == 0 && !$j->{replied} && (!defined $wait || $wait > 0.005); }
  $wait = 0 if defined $wait && $wait < 0;
  my @ready = $sel->can_read($wait);
  for my $fh (@ready) {
    if ($fh == \*STDIN) {
      my $r = sysread(STDIN, my $buf, 65536);
      if (!$r) { $closing = 1; $sel->remove(\*STDIN); next; }
      $inbuf .= $buf;
      while ((my $nl = index($inbuf, "\n")) >= 0) {
        my $line = substr($inbuf, 0, $nl);
        $inbuf = substr($inbuf, $nl + 1);
        start_job($line);
      }
    } else {
      my $fd = fileno($fh);
      next unless defined $fd;
      my $p = $pipes{$fd} or next;
      my ($pid, $which, $h) = @$p;
      my $r = sysread($h, my $buf, 65536);
      if ($r) { $jobs{$pid}{$which} .= $buf; answer_daemon($pid) if $jobs{$pid}{daemon}; next; }
      $sel->remove($h);
      delete $pipes{fileno($h)};
      close($h);
      $jobs{$pid}{open}--;
      if ($jobs{$pid}{daemon} && $which eq 'out') { $jobs{$pid}{sync_eof} = 1; answer_daemon($pid); }
    }
  }
  for my $pid (keys %jobs) {
    my $j = $jobs{$pid};
    if (defined $j->{deadline} && time() >= $j->{deadline} && !$j->{killed}) { kill('KILL', $pid); $j->{killed} = 1; }
  }
  finish();
  exit(0) if $closing && !grep { !$_->{replied} } values %jobs;
}
`;

export interface ProgramOptions {
  /** Written to the program's stdin, which is then closed. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** SIGKILL after this many ms (0: never). */
  timeoutMs?: number;
}

export interface ProgramResult {
  /** Exit status; 128 + n when killed by signal n. */
  code: number;
  signal?: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** The program could not be started (missing, not executable, bad cwd). */
export class ProgramStartError extends BerthError {
  constructor(file: string, reason: string) {
    super('Internal', `cannot run ${file}: ${reason}`);
    this.name = 'ProgramStartError';
  }
}

const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');

/** Runs programs through the helper; see HELPER_SOURCE. */
export class SpawnServer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, { file: string; resolve: (r: ProgramResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private buffered = '';
  private dead = false;

  /** False once the helper could not start or died: callers then spawn directly. */
  get usable(): boolean {
    return !this.dead;
  }

  run(file: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
    return this.request('run', file, args, options);
  }

  /**
   * Starts a program that stays (conmon): resolves with the first message it writes on fd 3
   * (its sync pipe) as `stdout`, and its stderr so far. It runs on in a session of its own.
   */
  daemon(file: string, args: readonly string[], options: Omit<ProgramOptions, 'input'> = {}): Promise<ProgramResult> {
    return this.request('daemon', file, args, options);
  }

  /**
   * A new network namespace with loopback up, bind-mounted on `path` (an existing empty
   * file); `syscalls` are this architecture's unshare and mount numbers.
   */
  async netns(path: string, syscalls: { unshare: number; mount: number }): Promise<void> {
    const r = await this.request('netns', path, [String(syscalls.unshare), String(syscalls.mount)], { env: {} });
    if (r.code !== 0) throw new BerthError('Internal', `cannot create network namespace ${path}: ${r.stderr.toString('utf8').trim()}`);
  }

  /** mount(2) of `source` (type `type`, `data` its options) on `target`, from `cwd`; `mountSyscall` is this architecture's number. */
  async mount(target: string, source: string, type: string, data: string, cwd: string | undefined, mountSyscall: number): Promise<void> {
    const r = await this.request('mount', target, [String(mountSyscall), source, type, '0', data], { env: {}, ...(cwd !== undefined ? { cwd } : {}) });
    if (r.code !== 0) throw new BerthError('Internal', `mount ${type} on ${target}: ${r.stderr.toString('utf8').trim()}`);
  }

  /**
   * A pod sandbox's pause process (pause-helper.ts; `args` its key=value settings): resolves
   * with its monitor's first sync message as `stdout` (`{"data": pid}`, or -1 and a message).
   */
  pause(exitFile: string, rootDir: string, args: readonly string[]): Promise<ProgramResult> {
    return this.request('pause', exitFile, args, { env: {}, cwd: rootDir, timeoutMs: 30_000 });
  }

  /** umount2(2) of `target` (`flags`: MNT_DETACH for a lazy one): '' when done, else the errno's text. */
  async umount(target: string, flags: number, umountSyscall: number): Promise<string> {
    const r = await this.request('umount', target, [String(umountSyscall), String(flags)], { env: {} });
    return r.code === 0 ? '' : r.stderr.toString('utf8').trim() || `exit ${r.code}`;
  }

  private request(mode: 'run' | 'daemon' | 'netns' | 'mount' | 'umount' | 'pause', file: string, args: readonly string[], options: ProgramOptions): Promise<ProgramResult> {
    const child = this.ensure();
    const id = this.nextId++;
    const env = Object.entries(options.env ?? process.env).filter((e): e is [string, string] => e[1] !== undefined);
    const line = [
      mode,
      id,
      Math.max(0, Math.floor(options.timeoutMs ?? 0)),
      hex(file),
      options.cwd !== undefined ? hex(options.cwd) : '-',
      hex(options.input ?? ''),
      args.length,
      ...args.map(hex),
      env.length,
      ...env.map(([k, v]) => hex(`${k}=${v}`)),
    ].join(' ');
    return new Promise((resolve, reject) => {
      this.pending.set(id, { file, resolve, reject });
      if (this.pending.size === 1) this.setRef(true);
      child.stdin.write(`${line}\n`);
    });
  }

  close(): void {
    this.child?.stdin.end();
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    if (this.dead) throw new BerthError('Internal', 'the spawn helper is not available');
    // its own process group: a terminal's ^C to the daemon must not take the helper with it
    const child = spawn('perl', ['-e', HELPER_SOURCE + PAUSE_SOURCE], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (chunk: string) => this.onData(chunk));
    child.stderr.on('data', () => undefined);
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => this.fail(err));
    child.on('exit', (code, signal) => this.fail(new BerthError('Internal', `spawn helper exited (${signal ?? code})`)));
    this.setRef(false);
    return child;
  }

  /** The helper must not keep an idle daemon (or a test process) alive. */
  private setRef(ref: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const s of [c.stdin, c.stdout, c.stderr] as unknown as { ref(): void; unref(): void }[]) (ref ? s.ref() : s.unref());
    if (ref) c.ref();
    else c.unref();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const [id, code, signal, out, err, failure] = line.split(' ');
      const p = this.pending.get(Number(id));
      if (!p) continue;
      this.pending.delete(Number(id));
      if (this.pending.size === 0) this.setRef(false);
      if (failure && failure !== '-') p.reject(new ProgramStartError(p.file, Buffer.from(failure, 'hex').toString('utf8')));
      else p.resolve({ code: Number(code), ...(signal && signal !== '-' ? { signal: Number(signal) } : {}), stdout: Buffer.from(out ?? '', 'hex'), stderr: Buffer.from(err ?? '', 'hex') });
    }
  }

  private fail(err: Error): void {
    this.dead = true;
    this.child = undefined;
    for (const p of this.pending.values()) p.reject(new BerthError('Internal', `running ${p.file}: ${err.message}`, { cause: err }));
    this.pending.clear();
  }
}
