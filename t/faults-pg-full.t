# PostgreSQL refusing connections: its max_connections taken by other
# sessions while nginx's own connections are gone.  A burst of every kind
# of request gets JSON 503s at once ("unavailable": no wait for the 30s
# pool timeout, which would say "Database timeout"), writes
# nothing, and crashes nothing; once slots free up, everything works
# again without touching nginx.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test qw(wait_until parallel_requests random_bytes);
use WeaveIt::Jobs qw(api_locations thread_pool post_job wait_job WALLET);

my $pg = WeaveIt::Pg->start;
$pg->psql('ALTER SYSTEM SET max_connections = 12');
$pg->psql('ALTER SYSTEM SET superuser_reserved_connections = 0');
$pg->stop;
$pg->restart;

my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;
             weaveit_db_pool max=2 timeout=30s;
             weaveit_signup_points 10; weaveit_generate_cost 1;',
    server => api_locations() . '
        location ~ ^/api/videos/(?<video_id>[^/]+)$ {
            weaveit_video $video_id;
        }');
$pg->wait_schema;
my ($job, $video) = $pg->store_video(random_bytes(100000, 9));
is $ngx->get('/api/db/health')->{status}, 200, 'healthy at first';
my @workers = $ngx->worker_pids;

# nginx's connections are ended while its worker is stopped, and every
# slot is taken before it runs again

kill 'STOP', @workers;
my $first = $pg->session;
$first->run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            . "WHERE application_name LIKE 'weaveit/%'");
my @holders = ($first);
while (my $s = $pg->session) {
    push @holders, $s;
    last if @holders > 20;
}
cmp_ok scalar(@holders), '<=', 12, scalar(@holders)
    . ' psql sessions take every slot';
like $WeaveIt::Pg::Session::refused, qr/too many clients already/,
    '  the next one is refused';
kill 'CONT', @workers;

my $body = encode_json({ script => 'Refused.', walletAddress => WALLET });
my %burst = (
    health => [ 30, path => '/api/db/health' ],
    status => [ 10, path => "/api/videos/status/$job" ],
    video => [ 10, path => "/api/videos/$video" ],
    generate => [ 10, method => 'POST', path => '/api/generate',
                  headers => { 'Content-Type' => 'application/json' },
                  body => $body ],
);
for my $kind (sort keys %burst) {
    my ($n, %req) = @{ $burst{$kind} };
    my @res = parallel_requests($n, port => $ngx->port, %req);
    my $errors = grep {
        my $json = eval { decode_json($_->{body}) } // {};
        $_->{status} == 503 && ($json->{error} // '') eq
            'Database unavailable';
    } @res;
    is $errors, $n, "$n x $kind: 503 {\"error\":\"Database unavailable\"}";
}
is $ngx->get('/static')->{status}, 200, 'a static location answers';
like $ngx->error_log, qr/connect failed: .*too many clients already/,
    "PostgreSQL's reason is in error.log";

# slots free again

$_->end for @holders;
ok wait_until(20, sub { $ngx->get('/api/db/health')->{status} == 200 }),
    'slots free: health 200, nginx untouched';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE job_id <> '$job'"), 0,
    'the refused POSTs wrote no job';
is $pg->psql('SELECT count(*) FROM points_ledger'), 0, '  and no charge';
is $ngx->get("/api/videos/status/$job")->{status}, 200, 'status 200';
my $r = $ngx->get("/api/videos/$video");
ok $r->{status} == 200 && length $r->{body} == 100000, 'video 200';
$r = post_job($ngx, script => 'Accepted.');
is $r->{status}, 202, 'a POST is accepted';
my (undef, $st) = wait_job($ngx, $r->{json}{jobId}, 120);
is $st->{status}, 'completed', '  and its job completes';
is_deeply [ sort $ngx->worker_pids ], [ sort @workers ], 'the same worker';

$ngx->stop;
my $log = $ngx->error_log;
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
unlike $log, qr/exited on signal/, 'no worker crashed';

done_testing;
