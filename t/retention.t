# weaveit_video_retention: videos older than T are deleted by the job
# rounds' cleanup, 100 or 64 MB a transaction, by one worker of the fleet
# at a time; their jobs answer "expired", their ids 404, wallet lists forget
# them, the points spent on them stay spent.  Younger videos stay.  Two
# hosts (four workers) on one PostgreSQL delete each video once: the
# videos they count add up to the videos there were.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test qw(random_bytes wait_until);
use WeaveIt::Jobs qw(api_locations thread_pool job_status WALLET WALLET2);

my $reads = api_locations() . '
        location ~ ^/api/videos/(?<video_id>[^/]+)$ {
            weaveit_video $video_id;
        }
        location = /metrics {
            allow 127.0.0.1;
            deny all;
            weaveit_metrics;
        }';

# nginx -t: the directive takes a time, 0 (the default) turns it off

for my $case ([ '2s', 1 ], [ '30d', 1 ], [ '0', 1 ], [ 'off', 0 ],
              [ '-1h', 0 ], [ '1h 2h', 0 ])
{
    my ($value, $good) = @$case;
    my ($ok, $out) = WeaveIt::Nginx->test_config(
        http => "weaveit_db \"host=/nonexistent\";"
              . "weaveit_video_retention $value;");
    is !!$ok, !!$good,
        "weaveit_video_retention $value: " . ($good ? 'accepted' : 'refused')
        or diag $out;
}

my $pg = WeaveIt::Pg->start;

# A host that generates nothing runs no job rounds: it only reads.
my $reader = WeaveIt::Nginx->start(pg => $pg, server => $reads);
$pg->wait_schema;

my $bytes = random_bytes(100_000, 17);
my ($old_job, $old_video) = $pg->store_video($bytes, wallet => WALLET,
                                             title => 'Old');
my ($young_job, $young_video) = $pg->store_video($bytes, wallet => WALLET,
                                                 title => 'Young');
my ($fresh_job, $fresh_video) = $pg->store_video($bytes, wallet => WALLET,
                                                 title => 'Fresh');
$pg->psql("UPDATE videos SET created_at = now() - interval '2 hours' "
          . "WHERE video_id = '$old_video'");
$pg->psql("UPDATE videos SET created_at = now() - interval '50 minutes' "
          . "WHERE video_id = '$young_video'");

# 249 more old videos of another wallet: three batches in all
$pg->psql("INSERT INTO users (wallet_address) VALUES ('" . WALLET2 . "')");
$pg->psql("WITH j AS ("
    . " INSERT INTO video_jobs (wallet_address, status, script_body)"
    . " SELECT '" . WALLET2 . "', 'completed', 'script ' || g"
    . " FROM generate_series(1, 249) g RETURNING job_id)"
    . " INSERT INTO videos (job_id, wallet_address, video_data, created_at)"
    . " SELECT job_id, '" . WALLET2 . "', '\\x00'::bytea,"
    . "   now() - interval '3 hours' - random() * interval '1 day' FROM j");
# and 3 of 40 MB, the oldest: one a batch
$pg->psql("WITH j AS ("
    . " INSERT INTO video_jobs (wallet_address, status)"
    . " SELECT '" . WALLET2 . "', 'completed' FROM generate_series(1, 3)"
    . " RETURNING job_id)"
    . " INSERT INTO videos (job_id, wallet_address, video_data, created_at)"
    . " SELECT job_id, '" . WALLET2 . "',"
    . "   convert_to(repeat('x', 40000000), 'UTF8'),"
    . "   now() - interval '5 days' FROM j");
$pg->psql("UPDATE users SET prompt_points = 5");
my $ledger = $pg->psql('SELECT count(*) FROM points_ledger');

sub wallet_titles {
    my ($wallet) = @_;
    my $r = $reader->get("/api/wallet/$wallet/videos?limit=100");
    my $list = eval { decode_json($r->{body}) } // {};
    return join ' ', $list->{total} // '?',
        map { $_->{title} // '-' } @{ $list->{videos} // [] };
}

is $reader->get("/api/videos/$old_video")->{status}, 200,
    'before: the old video streams';
is job_status($reader, $old_job)->{status}, 'completed',
    '  its job is completed';
is wallet_titles(WALLET), '3 Fresh Young Old', '  and listed';

my $http = 'weaveit_thread_pool weaveit; weaveit_job_interval 100ms;'
         . 'weaveit_video_retention 1h;';
my @hosts = map {
    WeaveIt::Nginx->start(pg => $pg, main => thread_pool(), workers => 2,
                          http => $http, server => $reads)
} 1 .. 2;

ok wait_until(60, sub { $pg->psql("SELECT count(*) FROM videos "
                   . "WHERE created_at < now() - interval '1 hour'") == 0 }),
    'every video older than 1h is deleted';
is $pg->psql("SELECT count(*) FROM videos WHERE video_id IN "
             . "('$young_video', '$fresh_video')"), 2,
    'the younger ones are kept';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE status = 'expired' "
             . "AND script_body IS NULL"), 253,
    'the 253 jobs are expired, their scripts cleared';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE status = 'completed'"),
    2, 'the younger videos\' jobs are still completed';

my $expired = job_status($reader, $old_job);
my $completed = job_status($reader, $fresh_job);
is $expired->{status}, 'expired', 'status: expired';
ok !$expired->{ready} && !$expired->{videoAvailable},
    '  not ready, no video available';
is join(' ', sort keys %$expired), join(' ', sort keys %$completed),
    '  the same fields as a completed job\'s';
is $reader->get("/api/videos/$old_video")->{status}, 404,
    'the old video: 404 by its id';
is $reader->get("/api/videos/$old_job")->{status}, 404,
    '  and by its job\'s';
my $fresh = $reader->get("/api/videos/$fresh_video");
ok $fresh->{status} == 200 && $fresh->{body} eq $bytes,
    'the fresh video streams, whole';
is wallet_titles(WALLET), '2 Fresh Young', 'the wallet lists the two left';

# Cache-Control: under retention, no longer than the video has left, 304s
# too; without it, a year

sub max_age {
    my ($ngx, $id, %headers) = @_;
    my $r = $ngx->get("/api/videos/$id", headers => \%headers);
    my ($age) = ($r->{headers}{'cache-control'} // '')
        =~ /^public, max-age=(\d+), immutable$/;
    return ($r->{status}, $age // -1);
}
my ($status, $fresh_age) = max_age($hosts[0], $fresh_video);
ok $status == 200 && $fresh_age > 3000 && $fresh_age <= 3600,
    "retention 1h: a fresh video's max-age is its hour left ($fresh_age)";
my (undef, $young_age) = max_age($hosts[1], $young_video);
ok $young_age > 0 && $young_age <= 600,
    "  a video 50 minutes old: its 10 minutes left at most ($young_age)";
($status, my $age_304) = max_age($hosts[0], $young_video,
                                 'If-None-Match' => qq{"$young_video"});
ok $status == 304 && $age_304 > 0 && $age_304 <= $young_age,
    "  its 304 too ($age_304)";
# a host without weaveit_generate runs no job rounds and deletes nothing:
# the 30 minutes it is told are past, it answers 0
my $short = WeaveIt::Nginx->start(pg => $pg,
    http => 'weaveit_video_retention 30m;',
    server => 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                   weaveit_video $video_id;
               }');
is join(' ', max_age($short, $young_video)), '200 0',
    '  one past its time, not deleted yet: 0, never negative';
$short->stop;
is join(' ', max_age($reader, $fresh_video)), '200 31536000',
    'no retention: a year';
is wallet_titles(WALLET2), '0', 'the other wallet lists none';
is $pg->psql('SELECT sum(prompt_points) FROM users'), 10,
    'no point refunded';
is $pg->psql('SELECT count(*) FROM points_ledger'), $ledger,
    '  and no ledger row written';

# each deletion counted once, in batches of at most 100 videos or 64 MB
# (or one larger video)

# a worker logs its batch once PostgreSQL has committed it, and counts
# it in the metrics before
sub batches {
    return sort { $a <=> $b }
           map { /deleted (\d+) video\(s\) older than/g }
           map { $_->error_log } @hosts;
}
my @batches;
wait_until(30, sub {
    my $sum = 0;
    @batches = batches();
    $sum += $_ for @batches;
    return $sum >= 253;
});
# 40 | 40 | 40 + 99 small | 100 small | 51 small
is "@batches", '1 1 51 100 100',
    'the hosts\' logs count 253 videos deleted, in batches of 64 MB at '
    . 'most, or 100 videos';

sub scrape {
    my ($ngx) = @_;
    my %m = $ngx->get('/metrics')->{body} =~ /^(\S+) (\S+)$/mg;
    return \%m;
}
my @metrics = map { scrape($_) } @hosts;
is $metrics[0]{weaveit_videos_expired_total}
   + $metrics[1]{weaveit_videos_expired_total}, 253,
    'weaveit_videos_expired_total: 253 over both hosts';
is $metrics[0]{'weaveit_jobs{status="expired"}'}, 253,
    'weaveit_jobs{status="expired"}: 253';

$_->stop for $reader, @hosts;
unlike $_->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log'
    for $reader, @hosts;

done_testing;
