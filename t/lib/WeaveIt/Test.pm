package WeaveIt::Test;

# The test harness: a private PostgreSQL cluster and an nginx with the module
# loaded, both on free loopback ports in a temp dir, plus small HTTP helpers.
# Core Perl only.  Everything started is torn down at exit, even when a test
# dies.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton sockaddr_in);
use Time::HiRes qw(time sleep);
use IPC::Open3 ();

our @EXPORT_OK = qw(root http_request parallel_requests wait_until
                    free_port random_bytes open_client read_client read_more
                    rss_kb request_text parse_response);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');
my @CLEANUPS;

# The build under test: build/, or the sanitizer build of make test-asan
# (WEAVEIT_BUILD=build/asan, scripts/prove-asan.sh).
my $BUILD = $ENV{WEAVEIT_BUILD} // 'build';

sub root { $ROOT }

sub build_dir { "$ROOT/$BUILD" }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# A private directory both postgres and nginx's workers can enter.
sub new_dir {
    my $dir = tempdir('weaveit-test-XXXXXX', TMPDIR => 1);
    chmod 0755, $dir;
    push @CLEANUPS, sub { remove_tree($dir) };
    return $dir;
}

# $n pseudo-random bytes, the same for the same seed.
sub random_bytes {
    my ($n, $seed) = @_;
    srand($seed // 1);
    my $s = pack 'L*', map { int rand 4294967296 } 1 .. int(($n + 3) / 4);
    return substr $s, 0, $n;
}

sub wait_until {
    my ($timeout, $cond) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->();
}

# One HTTP/1.1 request on a fresh connection: returns
# { status, headers => { lc name => value }, body, elapsed }.
sub http_request {
    my (%a) = @_;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $a{port}, Timeout => 10)
        or die "connect to port $a{port}: $!";
    $s->autoflush(1);
    print $s request_text(%a);
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + ($a{timeout} // 30);
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, $raw, 65536, length $raw);
        last unless $n;
    }
    close $s;
    my $res = parse_response($raw, $a{method} // 'GET');
    $res->{elapsed} = time - $t0;
    return $res;
}

# A raw client for streams read slowly or left midway: sends a GET of
# $a{path} to $a{port}, with the headers of $a{headers} and a receive
# buffer of $a{rcvbuf} bytes if set, and returns the socket.
sub open_client {
    my (%a) = @_;
    my $h = $a{headers} // {};
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, $a{rcvbuf}) or die if $a{rcvbuf};
    connect($s, sockaddr_in($a{port}, inet_aton('127.0.0.1')))
        or die "connect: $!";
    $s->autoflush(1);
    print $s "GET $a{path} HTTP/1.1\r\nHost: localhost\r\n"
           . join('', map { "$_: $h->{$_}\r\n" } sort keys %$h) . "\r\n";
    return $s;
}

# Reads from an open_client() socket until $want bytes of body have come
# (all of it if undef), EOF or $timeout; returns (headers text, body, eof
# seen).
sub read_client {
    my ($s, $want, $timeout) = @_;
    my ($raw, $eof) = ('', 0);
    my $sel = IO::Select->new($s);
    my $end = time + ($timeout // 20);
    while (time < $end) {
        my ($head, $body) = split /\r\n\r\n/, $raw, 2;
        last if defined $body && defined $want && length $body >= $want;
        last unless $sel->can_read($end - time);
        my $n = sysread($s, $raw, 65536, length $raw);
        if (!$n) {
            $eof = 1;
            last;
        }
    }
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return ($head // '', $body // '', $eof);
}

# Reads on from an open_client() socket once read_client() has taken the
# headers: until $want more bytes have come (all if undef), EOF or
# $timeout; returns (bytes, eof seen).
sub read_more {
    my ($s, $want, $timeout) = @_;
    my ($data, $eof) = ('', 0);
    my $sel = IO::Select->new($s);
    my $end = time + ($timeout // 20);
    while (time < $end && !(defined $want && length $data >= $want)) {
        last unless $sel->can_read($end - time);
        my $n = sysread($s, $data, 65536, length $data);
        if (!$n) {
            $eof = 1;
            last;
        }
    }
    return ($data, $eof);
}

# A process's resident set, in KB (0 once it is gone).
sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (my $line = <$fh>) {
        return $1 if $line =~ /^VmRSS:\s+(\d+)/;
    }
    return 0;
}

# The bytes of a request that closes its connection: $a{method} (GET),
# $a{path}, $a{headers} (a hash), $a{body}.
sub request_text {
    my (%a) = @_;
    my $method = $a{method} // 'GET';
    my $body = $a{body} // '';
    my $h = $a{headers} // {};
    my $text = "$method $a{path} HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n";
    $text .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $text .= "Content-Length: " . length($body) . "\r\n"
        if length $body || $method eq 'POST';
    return "$text\r\n$body";
}

sub parse_response {
    my ($raw, $method) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return { status => 0, headers => {}, body => '', raw => $raw }
        unless defined $head && $head =~ m{^HTTP/1\.\d (\d{3})};
    my %res = (status => $1, headers => {}, raw => $raw);
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        $res{headers}{lc $1} = $2;
    }
    $body //= '';
    if (($res{headers}{'transfer-encoding'} // '') eq 'chunked') {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    $res{body} = $body;
    return \%res;
}

# Sends $n copies of a request at once over $n connections and collects
# every response.
sub parallel_requests {
    my ($n, %a) = @_;
    my (%conns, @done);
    my $sel = IO::Select->new;
    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $a{port}, Timeout => 10)
            or die "connect: $!";
        $s->blocking(0);
        $conns{fileno $s} = { sock => $s, raw => '', t0 => time,
                              out => request_text(%a) };
        $sel->add($s);
    }
    my $wsel = IO::Select->new($sel->handles);
    my $deadline = time + ($a{timeout} // 60);
    while ($sel->count && time < $deadline) {
        my ($r, $w) = IO::Select->select($sel, $wsel, undef, 1);
        for my $s (@{ $w // [] }) {
            my $c = $conns{fileno $s};
            my $n = syswrite($s, $c->{out});
            substr($c->{out}, 0, $n, '') if $n;
            $wsel->remove($s) unless length $c->{out};
        }
        for my $s (@{ $r // [] }) {
            my $c = $conns{fileno $s};
            my $n = sysread($s, $c->{raw}, 65536, length $c->{raw});
            next if !defined $n && $!{EAGAIN};
            next if $n;
            my $res = parse_response($c->{raw}, $a{method} // 'GET');
            $res->{elapsed} = time - $c->{t0};
            push @done, $res;
            $sel->remove($s);
            $wsel->remove($s);
            close $s;
        }
    }
    push @done, { status => 0, headers => {}, body => '' }
        for 1 .. $sel->count;
    return @done;
}

END {
    my $status = $?;
    $_->() for reverse @CLEANUPS;
    @CLEANUPS = ();
    $? = $status;
}

$SIG{INT} = $SIG{TERM} = sub { exit 1 };


package WeaveIt::Pg;

# A private PostgreSQL cluster through scripts/pg.sh: on a unix socket,
# and on TCP too with listen => '127.0.0.1'.

use strict;
use warnings;

sub start {
    my ($class, %a) = @_;
    my $dir = WeaveIt::Test::new_dir();
    my $self = bless { dir => $dir, data => "$dir/pg", sock => "$dir/pgsock",
                       port => WeaveIt::Test::free_port(),
                       listen => $a{listen} // '' }, $class;
    $self->_start;
    push @CLEANUPS, sub { $self->thaw; $self->stop('immediate') };
    return $self;
}

sub _start {
    my ($self) = @_;
    my $p = $self->{primary};
    system(WeaveIt::Test::root() . '/scripts/pg.sh',
           $p ? ('standby', $self->{data}, $self->{sock}, $self->{port},
                 $p->{sock}, $p->{port})
              : ('start', $self->{data}, $self->{sock}, $self->{port},
                 $self->{listen})) == 0
        or die "PostgreSQL did not start";
}

sub restart { $_[0]->_start }

# A streaming standby of this cluster (pg_basebackup -R), started: a
# WeaveIt::Pg of its own, read-only, whose restart() starts it again.
sub standby {
    my ($self) = @_;
    my $dir = WeaveIt::Test::new_dir();
    my $standby = bless { dir => $dir, data => "$dir/pg",
                          sock => "$dir/pgsock",
                          port => WeaveIt::Test::free_port(), listen => '',
                          primary => $self }, ref $self;
    $standby->_start;
    push @CLEANUPS, sub { $standby->thaw; $standby->stop('immediate') };
    return $standby;
}

sub stop {
    my ($self, $mode) = @_;
    system(WeaveIt::Test::root() . '/scripts/pg.sh', 'stop', $self->{data},
           $mode // 'fast');
}

sub conninfo {
    my ($self) = @_;
    return "host=$self->{sock} port=$self->{port} user=postgres "
         . "dbname=postgres";
}

# A standby: waits until it has replayed all its primary has written.
sub wait_replayed {
    my ($self) = @_;
    my $lsn = $self->{primary}->psql('SELECT pg_current_wal_lsn()');
    WeaveIt::Test::wait_until(20, sub {
        $self->psql("SELECT pg_last_wal_replay_lsn() >= '$lsn'") eq 't';
    }) or die "the standby did not replay up to $lsn";
}

# Runs SQL with psql and returns its unaligned, tuples-only output; dies
# with psql's message on error.
sub psql {
    my ($self, $sql) = @_;
    my $err = File::Temp->new;
    my $pid = IPC::Open3::open3(my $in, my $out, ">&" . fileno($err),
        'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
        '-h', $self->{sock}, '-p', $self->{port}, '-U', 'postgres',
        '-d', 'postgres', '-c', $sql);
    close $in;
    my $text = do { local $/; <$out> } // '';
    waitpid $pid, 0;
    if ($?) {
        seek $err, 0, 0;
        die "psql: " . do { local $/; <$err> } . "  on: $sql\n";
    }
    $text =~ s/\n+\z//;
    return $text;
}

sub pids {
    my ($self) = @_;
    open my $fh, '<', "$self->{data}/postmaster.pid" or return ();
    my $master = <$fh>;
    close $fh;
    chomp $master;
    my @children = split ' ', `pgrep -P $master`;
    return ($master, @children);
}

# SIGSTOP every server process: connections and connects then hang.
sub freeze {
    my ($self) = @_;
    $self->{frozen} = [ $self->pids ];
    kill 'STOP', @{ $self->{frozen} };
}

sub thaw {
    my ($self) = @_;
    kill 'CONT', @{ delete $self->{frozen} // [] };
}

# kill -9 of the postmaster and every backend at once, as a crash or the
# OOM killer would; returns once all of them are gone.  restart() then
# starts the cluster with crash recovery.
sub kill9 {
    my ($self) = @_;
    my @pids = $self->pids;
    kill 'KILL', @pids;
    WeaveIt::Test::wait_until(10, sub { !grep { kill 0, $_ } @pids })
        or die "PostgreSQL survived kill -9";
}

# An open psql session (WeaveIt::Pg::Session: ->run(SQL), ->end), to
# hold a lock or a connection slot; undef when PostgreSQL refuses it, with
# its message in $WeaveIt::Pg::Session::refused.
sub session {
    my ($self) = @_;
    return WeaveIt::Pg::Session->start($self);
}

# Waits until a worker has applied the schema (it does so on start).
sub wait_schema {
    my ($self) = @_;
    WeaveIt::Test::wait_until(20, sub {
        (eval { $self->psql("SELECT to_regclass('videos') IS NOT NULL") }
         // '') eq 't';
    }) or die "the schema was not applied";
}

# Stores $bytes as the video of a new job of status $a{status} (default
# completed) with title $a{title}; returns (job id, video id).  With
# $a{no_video}, only the job is created and the video id is undef.
sub store_video {
    my ($self, $bytes, %a) = @_;
    my $q = sub {
        my ($s) = @_;
        return 'NULL' unless defined $s;
        $s =~ s/'/''/g;
        return "'$s'";
    };
    my $wallet = $q->($a{wallet}
                      // '7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU');
    $self->psql("INSERT INTO users (wallet_address) VALUES ($wallet) "
                . "ON CONFLICT DO NOTHING");
    my $job = $self->psql("INSERT INTO video_jobs (wallet_address, status, "
        . "title) VALUES ($wallet, " . $q->($a{status} // 'completed')
        . ", " . $q->($a{title}) . ") RETURNING job_id");
    return ($job, undef) if $a{no_video};
    my $file = WeaveIt::Test::new_dir() . '/video.bin';
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $bytes;
    close $fh;
    chmod 0644, $file;
    my $video = $self->psql("INSERT INTO videos (job_id, wallet_address, "
        . "video_data) VALUES ('$job', $wallet, "
        . "pg_read_binary_file('$file')) RETURNING video_id");
    unlink $file;
    return ($job, $video);
}

# The bytes PostgreSQL holds for a video.
sub video_data {
    my ($self, $video) = @_;
    my $hex = $self->psql("SELECT encode(video_data, 'hex') FROM videos "
                          . "WHERE video_id = '$video'");
    return pack 'H*', $hex;
}


package WeaveIt::Pg::Session;

use strict;
use warnings;

our $refused = '';

sub start {
    my ($class, $pg) = @_;
    my $err = File::Temp->new;
    # psql's output to a pipe is line-buffered only under stdbuf
    my $pid = IPC::Open3::open3(my $in, my $out, ">&" . fileno($err),
        'stdbuf', '-oL', 'psql', '-X', '-q', '-A', '-t', '-h', $pg->{sock},
        '-p', $pg->{port}, '-U', 'postgres', '-d', 'postgres');
    $in->autoflush(1);
    my $self = bless { pid => $pid, in => $in, out => $out, err => $err },
                     $class;
    push @CLEANUPS, sub { $self->end };
    return $self if defined $self->run('SELECT 1');
    seek $err, 0, 0;
    $refused = do { local $/; <$err> } // '';
    $self->end;
    return undef;
}

# Runs SQL (one or more statements) in the session and returns its output
# once it has run; undef if the session is gone.
sub run {
    my ($self, $sql) = @_;
    local $SIG{PIPE} = 'IGNORE';
    return undef unless $self->{pid};
    print { $self->{in} } "$sql;\nSELECT 'weaveit-session-done';\n"
        or return undef;
    my $text = '';
    while (defined(my $line = readline $self->{out})) {
        return $text if $line eq "weaveit-session-done\n";
        $text .= $line;
    }
    return undef;
}

sub end {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    close $self->{in};
    kill 'TERM', $pid;
    waitpid $pid, 0;
}


package WeaveIt::Nginx;

# nginx with the module, on a generated configuration.

use strict;
use warnings;

use File::Copy qw(copy);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);

my $NGINX = '/usr/sbin/nginx';

sub module_path {
    return WeaveIt::Test::build_dir() . '/nginx/ngx_http_weaveit_module.so';
}

sub generator_path {
    return WeaveIt::Test::build_dir() . '/weaveit-render';
}

# Builds nginx.conf.  Arguments: pg (a WeaveIt::Pg), workers, main (main
# context lines), http (http context lines), server (server context lines,
# usually locations), or no_server for an http block whose servers are
# all in http (an example configuration included).  start() and
# test_config() take a whole nginx.conf in conf instead.
sub config_text {
    my (%a) = @_;
    my $dir = $a{dir};
    my $db = $a{pg} ? 'weaveit_db "' . $a{pg}->conninfo . '";' : '';
    my $workers = $a{workers} // 1;
    my $module = module_path();
    my $port = $a{port} // 1;
    my $generator = $a{http} =~ /weaveit_generator\s/ ? ''
                  : "weaveit_generator $dir/weaveit-render;";
    my $env = WeaveIt::Sanitizer::generator_env();
    my $server = $a{no_server} ? '' : <<"SERVER";
    server {
        listen 127.0.0.1:$port;
        location = /static { return 200 "static\\n"; }
        $a{server}
    }
SERVER
    return <<"CONF";
load_module $module;
$env
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log info;
$a{main}
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    $db
    $generator
    $a{http}
$server}
CONF
}

# The workers (user nobody) run the generator: a copy in the test's own
# directory works wherever the checkout is.
sub _write_config {
    my (%a) = @_;
    mkdir "$a{dir}/tmp";
    chmod 0777, "$a{dir}/tmp";
    copy(generator_path(), "$a{dir}/weaveit-render")
        && chmod 0755, "$a{dir}/weaveit-render"
        or die "copy the generator: $!" unless -e "$a{dir}/weaveit-render";
    open my $fh, '>', "$a{dir}/nginx.conf" or die "$a{dir}/nginx.conf: $!";
    print $fh $a{conf} // config_text(%a);
    close $fh;
}

# `nginx -t` on a configuration: returns (ok, output).
sub test_config {
    my ($class, %a) = @_;
    $a{main} //= '';
    $a{http} //= '';
    $a{server} //= '';
    $a{dir} = WeaveIt::Test::new_dir();
    _write_config(%a);
    local %ENV = (%ENV, WeaveIt::Sanitizer::nginx_env($a{dir}));
    my $out = `$NGINX -t -p $a{dir} -c $a{dir}/nginx.conf -e $a{dir}/error.log 2>&1`;
    return ($? == 0, $out);
}

sub start {
    my ($class, %a) = @_;
    $a{main} //= '';
    $a{http} //= '';
    $a{server} //= '';
    $a{dir} //= WeaveIt::Test::new_dir();
    $a{port} //= WeaveIt::Test::free_port();
    my $self = bless { %a }, $class;
    _write_config(%a);
    $self->_run;
    push @CLEANUPS, sub { $self->stop };
    return $self;
}

sub _run {
    my ($self) = @_;
    my $d = $self->{dir};
    {
        # nginx's environment only: pgrep (worker_pids below) hangs on a
        # futex with the ASan runtime preloaded
        local %ENV = (%ENV, WeaveIt::Sanitizer::nginx_env($d, $self));
        system($NGINX, '-p', $d, '-c', "$d/nginx.conf", '-e',
               "$d/error.log") == 0
            or die "nginx did not start:\n" . $self->error_log;
    }
    WeaveIt::Test::wait_until(10, sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port});
        return $s ? 1 : 0;
    }) or die "nginx does not listen:\n" . $self->error_log;
    # the master listens before its workers have their titles: a test that
    # takes worker_pids at once would otherwise see none
    my $want = $self->{workers} // 1;
    WeaveIt::Test::wait_until(10, sub { $self->worker_pids >= $want })
        or die "nginx has not its $want workers:\n" . $self->error_log;
    $self->{running} = 1;
}

sub port { $_[0]->{port} }
sub dir { $_[0]->{dir} }

sub master_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub worker_pids {
    my ($self) = @_;
    my $m = $self->master_pid or return ();
    # by title: at a reload the master also runs `weaveit-render
    # --list-voices` for a moment
    return split ' ', `pgrep -P $m -f '^nginx: worker process'`;
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/error.log" or return '';
    local $/;
    return <$fh>;
}

sub signal {
    my ($self, $sig) = @_;
    kill $sig, $self->master_pid;
}

# Graceful stop (QUIT): returns once the master has exited.
sub stop {
    my ($self) = @_;
    return unless $self->{running};
    my $pid = $self->master_pid;
    $self->{running} = 0;
    return unless $pid && kill 0, $pid;
    kill 'QUIT', $pid;
    WeaveIt::Test::wait_until(30, sub { !kill 0, $pid })
        or kill 'KILL', $pid;
}

sub request {
    my ($self, %a) = @_;
    return WeaveIt::Test::http_request(port => $self->{port}, %a);
}

sub get {
    my ($self, $path, %a) = @_;
    return $self->request(path => $path, %a);
}


package WeaveIt::Sanitizer;

# The sanitizer build (make test-asan).  Debian's /usr/sbin/nginx is not
# instrumented and nginx-dev ships no sources to build one that is, so
# nginx runs with the ASan runtime the module links preloaded: it must
# come first in the process to replace malloc (a dlopen()ed module cannot),
# and then checks every heap access of nginx, libpq and the module alike.
#
# ASan's reports go to files in each test directory's sanitizer/; UBSan's
# to error.log, where nginx points stderr: libubsan reads its options only
# at its first report, from /proc/self/environ, which nginx has overwritten
# with its process title by then.  The generator's reach error.log too, as
# the failed job's message (the last line of its stderr: under seccomp and
# RLIMIT_FSIZE 0 it can write no file), with exit status 99.  Any report
# fails the test when it is done, in a test of its own naming the report.
#
# nginx frees its cycle's memory at exit only in part, by design, so
# LeakSanitizer stays off in nginx: a leak of ours there would show as a
# growing worker, which t/video-pg.t measures.  For that, freed memory is
# held back from reuse (ASan's quarantine, to catch a use after free) for
# the last 16 MB rather than 256 MB.  The generator's leaks:
# weaveit_sandbox.c.

use strict;
use warnings;

use Test::More ();

my $RUNTIME = runtime();
my $ON = defined $RUNTIME;
my (%DIRS, @NGINX);

if ($ON) {
    ($ENV{ASAN_OPTIONS} // '') =~ /exitcode=99/
        or die "run the sanitizer build with scripts/prove-asan.sh\n";
    require Test2::API;
    Test2::API::test2_add_callback_testing_done(\&check);
}

# the libasan the module links, if it is the sanitizer build
sub runtime {
    my $so = WeaveIt::Nginx::module_path();
    return undef unless -e $so;
    my ($lib) = map { /=> (\S*libasan\S*)/ ? $1 : () } `ldd $so`;
    return $lib;
}

# The environment of nginx (master, workers, nginx -t) run in $dir; $ngx
# is stopped before the reports are read.
sub nginx_env {
    my ($dir, $ngx) = @_;
    return () unless $ON;
    my $logs = "$dir/sanitizer";
    mkdir $logs;
    chmod 01777, $logs;
    $DIRS{$dir} = 1;
    push @NGINX, $ngx if $ngx;
    return (LD_PRELOAD => $RUNTIME,
            ASAN_OPTIONS => "$ENV{ASAN_OPTIONS}:detect_leaks=0"
                            . ":quarantine_size_mb=16:log_path=$logs/asan");
}

# nginx.conf lines that hand the generator its options: nginx clears its
# workers' environment but for what `env` names
sub generator_env {
    return '' unless $ON;
    return join "\n", map { "env $_=$ENV{$_};" }
                          qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS);
}

# Every sanitizer report of the test's nginx instances and generators.
sub reports {
    my @found;
    for my $dir (sort keys %DIRS) {
        for my $file (glob "$dir/sanitizer/*") {
            open my $fh, '<', $file or next;
            my @lines = <$fh>;
            splice @lines, 40 if @lines > 40;
            push @found, "$file:\n" . join '', @lines;
        }
        open my $log, '<', "$dir/error.log" or next;
        while (my $line = <$log>) {
            # ASan's runtime out of address space: a memory limit at work
            next if $line =~ /: ERROR: Failed to mmap \(exit status 99\)/;
            my $generator = $line =~ /\(exit status 99\)/;
            next unless $generator
                        || $line =~ /: runtime error: |Sanitizer/;
            $line .= "  (a generator's report: run the job through "
                   . WeaveIt::Nginx::generator_path() . " --serve)\n"
                if $generator;
            push @found, "$dir/error.log: $line";
        }
    }
    return @found;
}

sub check {
    $_->stop for @NGINX;
    return unless %DIRS;
    my @found = reports();
    Test::More::ok(!@found, 'no sanitizer report from nginx or the generator');
    Test::More::diag($_) for @found;
}

1;
