# No host name is looked up on the event loop: a host list, a host from
# PGHOST and one from a pg_service.conf entry are all resolved when the
# configuration is loaded, every host given its hostaddr.  strace on a
# worker while it connects again sees the connect() to PostgreSQL and no
# getaddrinfo() (which opens /etc/hosts, or asks nscd or a DNS server).
# Configurations that cannot be completed are refused by nginx -t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(wait_until);

plan skip_all => 'strace is not installed (scripts/deps.sh test)'
    unless -x '/usr/bin/strace';

my $pg = WeaveIt::Pg->start(listen => '127.0.0.1');
my $port = $pg->{port};
my $health = 'location = /api/db/health { weaveit_health; }';

my $service_file = WeaveIt::Test::new_dir() . '/pg_service.conf';
open my $fh, '>', $service_file or die;
print $fh <<"SERVICE";
# the test's database
[other]
host=elsewhere.invalid

[weaveit]
host=localhost
port=$port
user=postgres
dbname=postgres
SERVICE
close $fh;
chmod 0644, $service_file;

# strace -p a worker until it has connected to PostgreSQL again; returns
# the trace
sub trace_reconnect {
    my ($ngx) = @_;
    my ($worker) = $ngx->worker_pids;
    my $out = $ngx->dir . "/strace.$worker";
    my $strace = fork // die;
    if ($strace == 0) {
        exec('strace', '-f', '-qq', '-e', 'trace=openat,connect',
             '-o', $out, '-p', $worker) or POSIX::_exit(1);
    }
    my $connected = wait_until(30, sub {
        $pg->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  . "WHERE application_name = 'weaveit/$worker'");
        $ngx->get('/api/db/health');
        open my $t, '<', $out or return 0;
        return scalar grep { /connect\(.*htons\($port\)/ } <$t>;
    });
    kill 'TERM', $strace;
    waitpid $strace, 0;
    open my $t, '<', $out or return '';
    local $/;
    my $trace = <$t>;
    return ($connected, $trace);
}

my @cases = (
    [ 'a host list', qq{weaveit_db "host=localhost,localhost port=$port }
                     . qq{user=postgres dbname=postgres";}, '', {},
      "host=localhost,localhost hostaddr=127.0.0.1,127.0.0.1 port=$port" ],
    [ 'PGHOST', qq{weaveit_db "port=$port user=postgres dbname=postgres";},
      'env PGHOST;', { PGHOST => 'localhost' },
      "host=localhost hostaddr=127.0.0.1 port=$port" ],
    [ 'a service', 'weaveit_db "service=weaveit";',
      "env PGSERVICEFILE=$service_file;", {},
      "host=localhost hostaddr=127.0.0.1 port=$port" ],
);

for my $case (@cases) {
    my ($name, $http, $main, $env, $target) = @$case;
    local @ENV{keys %$env} = values %$env;

    my ($ok, $out) = WeaveIt::Nginx->test_config(main => $main,
        http => $http, server => $health);
    ok $ok, "$name: nginx -t accepts it" or diag $out;

    my $ngx = WeaveIt::Nginx->start(main => $main, http => $http,
                                    server => $health);
    is $ngx->get('/api/db/health')->{status}, 200, "$name: connected";
    like $ngx->error_log, qr/weaveit: PostgreSQL at \Q$target\E$/m,
        "$name: libpq is given $target";

    my ($connected, $trace) = trace_reconnect($ngx);
    ok $connected, "$name: strace saw the worker connect again";
    unlike $trace,
        qr{/etc/(hosts|resolv\.conf|nsswitch\.conf|gai\.conf)|nscd|htons\(53\)},
        "$name: ... and look up no name";
    is $ngx->get('/api/db/health')->{status}, 200, "$name: still healthy";

    $ngx->stop;
    unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/,
        "$name: no alert in error.log";
}

# what nginx -t refuses, and why

my @refused = (
    [ 'service=nowhere', "env PGSERVICEFILE=$service_file;",
      qr/definition of service "nowhere" not found/ ],
    [ 'service=weaveit', 'env PGSERVICEFILE=/nonexistent/pg_service.conf;',
      qr{service file "/nonexistent/pg_service.conf" not found} ],
    [ 'host=a.invalid', '', qr/host "a.invalid" not found/ ],
    [ 'host=localhost,localhost hostaddr=127.0.0.1', '',
      qr/could not match 2 host names to 1 hostaddr values/ ],
    [ 'host=localhost,localhost port=1,2,3', '',
      qr/could not match 3 port numbers to 2 hosts/ ],
    [ 'host=localhost port', '', qr/missing "=" after "port"/ ],
);

for my $r (@refused) {
    my ($conninfo, $main, $why) = @$r;
    my ($ok, $out) = WeaveIt::Nginx->test_config(main => $main,
        http => qq{weaveit_db "$conninfo";}, server => $health);
    ok !$ok, "nginx -t refuses $conninfo";
    like $out, $why, '... saying why';
}

# an LDAP entry would make libpq ask the LDAP server on every connect

my $ldap_file = WeaveIt::Test::new_dir() . '/pg_service.conf';
open $fh, '>', $ldap_file or die;
print $fh "[weaveit]\nldap://ldap.invalid/dc=example?uniqueMember?one\n";
close $fh;
my ($ok, $out) = WeaveIt::Nginx->test_config(
    main => "env PGSERVICEFILE=$ldap_file;",
    http => 'weaveit_db "service=weaveit";', server => $health);
ok !$ok, 'nginx -t refuses a service looked up in LDAP';
like $out, qr/LDAP lookups would block nginx on every connect/,
    '... saying why';

done_testing;
