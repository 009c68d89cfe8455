# What streaming asks of PostgreSQL and of the worker's memory: each
# connection prepares the video statements once and afterwards only
# executes them (again after its backend is killed; never with
# weaveit_db_prepare off), and the libpq result a chunk is sent from is
# freed once sent, or when the client leaves midway.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use WeaveIt::Test qw(parallel_requests random_bytes wait_until free_port
                     open_client read_client rss_kb);

my $location = 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                    weaveit_video $video_id;
                    weaveit_video_chunk 256k;
                }';
my $slow_port = free_port();

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    http => "weaveit_db_pool max=2;
             server {
                 listen 127.0.0.1:$slow_port sndbuf=32k;
                 $location
             }",
    server => $location);
$pg->wait_schema;

my (undef, $video) = $pg->store_video(random_bytes(4 << 20, 7));
my $data = $pg->video_data($video);
my ($worker) = $ngx->worker_pids;

sub server_log {
    open my $fh, '<', "$pg->{data}/server.log" or die "server.log: $!";
    local $/;
    return <$fh>;
}

sub count_in_log {
    my ($re) = @_;
    my $n = () = server_log() =~ /$re/g;
    return $n;
}

sub download_ok {
    my $r = $ngx->get("/api/videos/$video");
    return $r->{status} == 200 && $r->{body} eq $data;
}

# every statement in the server log, with its protocol step

$pg->psql("ALTER SYSTEM SET log_min_duration_statement = 0");
$pg->psql("SELECT pg_reload_conf()");
ok wait_until(10, sub {
        server_log() =~ /"log_min_duration_statement" changed to "0"/ }),
    'PostgreSQL logs every statement';

my $ok = grep { download_ok() } 1 .. 5;
is $ok, 5, '5 downloads of a 4 MB video in 256k chunks, byte-exact';

my $parses = count_in_log(qr/parse weaveit_video_chunk:/);
cmp_ok $parses, '>=', 1, 'the chunk statement is prepared';
cmp_ok $parses, '<=', 2, 'at most once per connection (max=2)';
is count_in_log(qr/execute weaveit_video_chunk:/), 80,
    'and executed once per chunk: 80';
cmp_ok count_in_log(qr/parse weaveit_video_find:/), '<=', 2,
    'the lookup is prepared at most once per connection';
is count_in_log(qr/execute weaveit_video_find:/), 5, 'executed 5 times';
is count_in_log(qr/parse <unnamed>: SELECT (?:substring|v\.video_id)/), 0,
    'neither is ever parsed unnamed';

# weaveit_db_prepare off: the same statements, never prepared

my $unprepared = WeaveIt::Nginx->start(pg => $pg,
    http => 'weaveit_db_prepare off;', server => $location);
my $r = $unprepared->get("/api/videos/$video");
ok $r->{status} == 200 && $r->{body} eq $data,
    'weaveit_db_prepare off: served byte-exact';
is count_in_log(qr/parse <unnamed>: SELECT substring/), 16,
    'with its 16 chunk statements parsed unnamed';
is count_in_log(qr/parse weaveit_video_chunk:/), $parses,
    'and not one prepared';
$unprepared->stop;

# backends killed: new connections prepare again

$pg->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          . "WHERE application_name LIKE 'weaveit/%'");
ok wait_until(10, \&download_ok), 'backends killed: served again';
cmp_ok count_in_log(qr/parse weaveit_video_chunk:/), '>', $parses,
    'by connections that prepared the statement anew';

$pg->psql("ALTER SYSTEM RESET log_min_duration_statement");
$pg->psql("SELECT pg_reload_conf()");

# memory: 100 downloads would leak 400 MB of results if one were kept

parallel_requests(4, port => $ngx->port, path => "/api/videos/$video")
    for 1 .. 3;
my $rss0 = rss_kb($worker);
my $exact = 0;
for (1 .. 25) {
    $exact += grep { $_->{status} == 200 && $_->{body} eq $data }
        parallel_requests(4, port => $ngx->port,
                          path => "/api/videos/$video");
}
is $exact, 100, '100 more downloads, byte-exact';
my $growth = (rss_kb($worker) - $rss0) / 1024;
cmp_ok $growth, '<', 32,
    sprintf('the worker grew by %.1f MB, not by the 400 MB sent', $growth);

# clients that leave while their chunk is still being sent: 200 of them
# would leak 50 MB

sub no_client_left {
    my $out = `ss -Htn state established '( sport = :$slow_port )'`;
    return $out !~ /\S/;
}

$rss0 = rss_kb($worker);
my $started = 0;
for (1 .. 20) {
    my @clients = map { open_client(port => $slow_port, rcvbuf => 16384,
                                     path => "/api/videos/$video") } 1 .. 10;
    for my $s (@clients) {
        my ($head, $body) = read_client($s, 1);
        $started++ if $head =~ m{^HTTP/1.1 200} && length $body;
    }
    close $_ for @clients;
    wait_until(10, \&no_client_left);
}
is $started, 200, '200 downloads started and left after their first bytes';
ok no_client_left(), 'nginx closed every one';
$growth = (rss_kb($worker) - $rss0) / 1024;
cmp_ok $growth, '<', 16,
    sprintf('the worker grew by %.1f MB, not by the 50 MB in flight',
            $growth);
ok download_ok(), 'and it keeps serving';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
