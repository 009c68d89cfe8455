# Prepared statements behind PgBouncer in transaction mode, with
# weaveit_db_prepare on: the server loses a statement a connection
# prepared (26000: DISCARD ALL after every transaction), or already has
# one of its name (42P05: another client connection's, on the one server
# they share); either way the query runs again unnamed and every download
# is byte-exact.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use WeaveIt::Test qw(parallel_requests random_bytes wait_until free_port);

plan skip_all => 'pgbouncer is not installed (scripts/deps.sh test)'
    unless -x '/usr/sbin/pgbouncer';

my $pg = WeaveIt::Pg->start;
my @bouncers;

END { kill 'TERM', @bouncers if @bouncers }

# A PgBouncer in front of $pg, run as postgres (it refuses root); returns
# its port.
sub pgbouncer {
    my (%a) = @_;
    my $dir = tempdir('weaveit-pgbouncer-XXXXXX', TMPDIR => 1,
                      CLEANUP => 1);
    system('chown', 'postgres:postgres', $dir) == 0 or die "chown $dir";
    my $port = free_port();
    open my $fh, '>', "$dir/users.txt" or die;
    print $fh qq{"postgres" ""\n};
    close $fh;
    open $fh, '>', "$dir/pgbouncer.ini" or die;
    print $fh <<"INI";
[databases]
postgres = host=$pg->{sock} port=$pg->{port} dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = $a{servers}
ignore_startup_parameters = options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
$a{extra}
INI
    close $fh;
    system('runuser', '-u', 'postgres', '--', '/usr/sbin/pgbouncer', '-d',
           '-q', "$dir/pgbouncer.ini") == 0 or die 'pgbouncer did not start';
    wait_until(10, sub { -s "$dir/pgbouncer.pid" })
        or die 'pgbouncer wrote no pid file';
    open $fh, '<', "$dir/pgbouncer.pid" or die;
    chomp(my $pid = <$fh>);
    push @bouncers, $pid;
    return $port;
}

my $video_location = 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                          weaveit_video $video_id;
                          weaveit_video_chunk 64k;
                      }
                      location = /api/db/health { weaveit_health; }';

my @cases = (
    [ 'DISCARD ALL after every transaction (26000)',
      { servers => 2, extra => "server_reset_query = DISCARD ALL\n"
                               . "server_reset_query_always = 1" },
      qr/prepared statement "weaveit_video_\w+" does not exist/ ],
    [ 'one server shared by the connections (42P05)',
      { servers => 1, extra => '' },
      qr/prepared statement "weaveit_video_\w+" already exists/ ],
);

my ($video, $data);

for my $case (@cases) {
    my ($name, $bouncer, $lost) = @$case;
    my $port = pgbouncer(%$bouncer);
    my $ngx = WeaveIt::Nginx->start(
        http => qq{weaveit_db "host=127.0.0.1 port=$port user=postgres }
                . qq{dbname=postgres"; weaveit_db_pool max=2 timeout=20s;},
        server => $video_location);
    $pg->wait_schema;
    $video //= ($pg->store_video(random_bytes(300000, 11)))[1];
    $data //= $pg->video_data($video);

    is $ngx->get('/api/db/health')->{status}, 200, "$name: healthy";

    my @res = parallel_requests(20, port => $ngx->port,
                                path => "/api/videos/$video");
    is scalar(grep { $_->{status} == 200 && $_->{body} eq $data } @res), 20,
        "$name: 20 parallel downloads, all byte-exact";

    my $r = $ngx->get("/api/videos/$video",
                      headers => { Range => 'bytes=1000-1999' });
    ok $r->{status} == 206 && $r->{body} eq substr($data, 1000, 1000),
        "$name: a range too";

    like $ngx->error_log, qr/statement "weaveit_video_\w+" is not the server's/,
        "$name: the pool ran statements again, unnamed";
    like $ngx->error_log, $lost, "$name: ... after PostgreSQL said so";
    unlike $ngx->error_log, qr/query failed/, "$name: no query failed";

    $ngx->stop;
    unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/,
        "$name: no alert in error.log";
}

done_testing;
