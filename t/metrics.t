# weaveit_metrics: the Prometheus exposition of the whole instance.  After
# a known sequence on 2 workers (PostgreSQL stopped for one health call,
# 3 generations and a failure, 5 downloads of which 2 ranges) every counter
# moved by exactly what happened; promtool accepts the text; the fleet's
# job counts are read from PostgreSQL at most once a second however fast
# the scrapes come.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use WeaveIt::Test qw(wait_until random_bytes);
use WeaveIt::Jobs qw(api_locations thread_pool post_job WALLET WALLET2);

my $POISON = do {
    local $/;
    open my $f, '<', 't/data/poison-espeak-stack.txt' or die "poison: $!";
    <$f>;
};

my $pg = WeaveIt::Pg->start;
$pg->psql("ALTER SYSTEM SET log_statement = 'all'");
$pg->psql('SELECT pg_reload_conf()');

# Job rounds once a minute: the only queries are the ones the test makes,
# and those of each worker's first round, which the test waits out.
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    workers => 2,
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 60s;'
          . 'weaveit_max_jobs 1; weaveit_video_size 640x360;'
          . 'weaveit_signup_points 10; weaveit_generate_cost 1;'
          . 'add_header X-Worker $pid always;',
    server => api_locations() . '
        location ~ ^/api/videos/(?<video_id>[^/]+)$ {
            weaveit_video $video_id;
        }
        location = /metrics {
            allow 127.0.0.1;
            deny all;
            weaveit_metrics;
        }');
$pg->wait_schema;

sub server_log {
    open my $fh, '<', "$pg->{data}/server.log" or return '';
    local $/;
    return <$fh>;
}

sub statements {
    my ($re) = @_;
    return grep { /$re/ } split /\n/, server_log();
}

ok wait_until(30, sub {
    statements(qr/pg_try_advisory_xact_lock\(\s*7245327115563012097/) >= 2
        && $pg->psql("SELECT count(*) FROM pg_stat_activity WHERE "
                     . "application_name LIKE 'weaveit/%' "
                     . "AND state <> 'idle'") == 0;
}), "both workers' first job rounds are over";

sub scrape {
    my $r = $ngx->get('/metrics');
    my %m;
    for my $line (split /\n/, $r->{body}) {
        next if $line =~ /^#/;
        $m{$1} = $2 if $line =~ /^(\S+) (\S+)$/;
    }
    return ($r, \%m);
}

my ($r0, $m0) = scrape();
is $r0->{status}, 200, 'GET /metrics answers 200';
is $r0->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
    'in the text exposition format';
like $r0->{body}, qr/^weaveit_build_info\{version="[^"]+"\} 1$/m,
    'weaveit_build_info has the version';
my ($version) = `sed -n '1s/^[^(]*(\\([^)]*\\)).*/\\1/p' debian/changelog`;
chomp $version;
like $r0->{body}, qr/^weaveit_build_info\{version="\Q$version\E"\} 1$/m,
    "  the one of debian/changelog ($version)";

# The sequence.

my %seen_workers;
my %expected;
sub count {
    my ($r, $series) = @_;
    $expected{$series}++;
    $seen_workers{ $r->{headers}{'x-worker'} // '' } = 1;
    return $r;
}

$pg->stop;
my $r = count($ngx->get('/api/db/health'),
              'weaveit_http_requests_total{endpoint="health",code="503"}');
is $r->{status}, 503, 'health with PostgreSQL stopped answers 503';
$expected{'weaveit_db_errors_total'} = 1;
$pg->restart;

my @videos;
for my $i (1 .. 3) {
    $r = count(post_job($ngx, script => "Metrics job number $i.",
                        query => '?wait=1'),
               'weaveit_http_requests_total{endpoint="generate",code="200"}');
    is $r->{status}, 200, "generation $i completed";
    push @videos, $r->{json}{videoId};
}
$r = count(post_job($ngx, script => $POISON, wallet => WALLET2,
                    query => '?wait=1'),
           'weaveit_http_requests_total{endpoint="generate",code="500"}');
is $r->{status}, 500, 'the poison script fails its job';
$expected{'weaveit_jobs_total{result="completed"}'} = 3;
$expected{'weaveit_jobs_total{result="failed"}'} = 1;
$expected{$_} = 3 for qw(weaveit_generation_seconds_count
                         weaveit_generation_realtime_ratio_count);
$expected{'weaveit_generation_seconds_bucket{le="+Inf"}'} = 3;
$expected{'weaveit_generation_realtime_ratio_bucket{le="+Inf"}'} = 3;

my $size = 300_000;
my (undef, $video) = $pg->store_video(random_bytes($size, 16));
my $bytes = 0;
for my $range (undef, undef, 'bytes=0-999', undef, 'bytes=1000-') {
    my $code = defined $range ? 206 : 200;
    $r = count($ngx->get("/api/videos/$video",
                         headers => defined $range ? { Range => $range } : {}),
        "weaveit_http_requests_total{endpoint=\"video\",code=\"$code\"}");
    is $r->{status}, $code, 'download ' . ($range // 'whole');
    $bytes += length $r->{body};
}
is $bytes, 3 * $size + $size, 'the downloads brought 4 videos of bytes';
$expected{'weaveit_video_bytes_sent_total'} = $bytes;
$expected{'weaveit_video_range_requests_total'} = 2;

# Both workers must have answered some of what is counted.
for (1 .. 200) {
    last if keys %seen_workers >= 2;
    count($ngx->get('/api/db/health'),
          'weaveit_http_requests_total{endpoint="health",code="200"}');
}
is scalar(keys %seen_workers), 2, 'both workers answered counted requests';

$expected{'weaveit_http_requests_total{endpoint="metrics",code="200"}'} = 1;

my ($r1, $m1) = scrape();
my %series = map { $_ => 1 } keys %$m0, keys %$m1;
my @counters = grep {
    /_total(\{|$)/ || /^weaveit_generation\w*_(count|bucket\{le="\+Inf"\})$/
} sort keys %series;
for my $s (@counters) {
    is(($m1->{$s} // 0) - ($m0->{$s} // 0), $expected{$s} // 0,
       "$s moved by " . ($expected{$s} // 0));
}
for my $s (sort keys %expected) {
    ok $series{$s}, "$s is exposed";
}
cmp_ok $m1->{'weaveit_generation_seconds_sum'}, '>', 0,
    'generation seconds add up to something';
cmp_ok $m1->{'weaveit_db_wait_seconds_count'}, '>',
    $m0->{'weaveit_db_wait_seconds_count'}, 'database waits are observed';
is $m1->{'weaveit_db_connections{state="busy"}'}
   + $m1->{'weaveit_db_connections{state="idle"}'} > 0, 1,
    'the pools report their connections';
is $m1->{weaveit_db_queue_length}, 0, 'no query waits';

SKIP: {
    skip 'promtool (Debian package prometheus) is not installed', 1
        unless `which promtool` =~ /\S/;
    open my $fh, '|-', 'promtool check metrics > promtool.out 2>&1'
        or die "promtool: $!";
    print $fh $r1->{body};
    close $fh;
    my $out = do { local (@ARGV, $/) = 'promtool.out'; <> } // '';
    unlink 'promtool.out';
    is $?, 0, 'promtool check metrics accepts the output'
        or diag $out;
}

# The fleet's jobs: 3 completed, 1 failed and the stored video's job,
# read at most once a second under 100 scrapes a second.

my $log_before = () = statements(qr/GROUP BY status/);
my ($t0, $n, $ok) = (time, 0, 0);
while (time - $t0 < 3) {
    my $t = time;
    my ($s, $m) = scrape();
    $n++;
    $ok++ if $s->{status} == 200
             && defined $m->{'weaveit_jobs{status="failed"}'};
    my $rest = 0.01 - (time - $t);
    sleep $rest if $rest > 0;
}
my $window = time - $t0;
my $queries = () = statements(qr/GROUP BY status/);
$queries -= $log_before;
is $ok, $n, "$n scrapes in ${\ sprintf '%.1f', $window} s all answered";
cmp_ok $queries, '<=', int($window) + 1,
    "PostgreSQL saw $queries job count queries: at most one a second";
cmp_ok $queries, '>=', 1, '  and at least one';
my (undef, $m) = scrape();
is $m->{'weaveit_jobs{status="completed"}'}, 4, 'fleet: 4 jobs completed';
is $m->{'weaveit_jobs{status="failed"}'}, 1, 'fleet: 1 failed';
is $m->{'weaveit_jobs{status="pending"}'}, 0, 'fleet: none pending';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in error.log';

done_testing;
