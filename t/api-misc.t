# The smaller endpoints and limits: 429 past weaveit_max_pending, status
# 400/404, wallet video paging, points 404, and old failed jobs cleaned up.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test qw(wait_until);
use WeaveIt::Jobs qw(api_locations thread_pool post_job wait_job job_status
                     script_words WALLET WALLET2);

my $pg = WeaveIt::Pg->start;

my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
          . 'weaveit_video_size 320x180;',
    server => api_locations());

sub get_json {
    my $r = $ngx->get($_[0]);
    return ($r->{status}, eval { decode_json($r->{body}) } // {}, $r);
}

# status

my ($s, $j) = get_json('/api/videos/status/not-a-uuid');
is $s, 400, 'status of a malformed id: 400';
is $j->{error}, 'Invalid job id', '  saying so';
($s, $j) = get_json('/api/videos/status/'
                    . '0123456789abcdef0123456789abcdef0123');
is $s, 400, 'status of 36 hex digits without dashes: 400';
($s, $j) = get_json('/api/videos/status/6f1c0a8e-5a7e-4b1e-9d7a-2f6b8c9d0e1f');
is $s, 404, 'status of an unknown job: 404';
is $j->{error}, 'Job not found', '  saying so';
is $ngx->request(method => 'POST',
                 path => '/api/videos/status/x')->{status}, 405,
    'status answers GET only';

# wallet videos, newest first, paged

my @jobs;
for my $i (1 .. 5) {
    my $r = post_job($ngx, script => "Video number $i.", title => "T$i");
    my (undef, $st) = wait_job($ngx, $r->{json}{jobId});
    push @jobs, $r->{json}{jobId} if $st->{status} eq 'completed';
}
is scalar(@jobs), 5, 'five videos made';

($s, $j) = get_json('/api/wallet/' . WALLET . '/videos?limit=2&offset=1');
is $s, 200, 'wallet videos: 200';
is $j->{walletAddress}, WALLET, '  for the wallet';
is $j->{total}, 5, '  total 5';
is $j->{count}, 2, '  count 2 on this page';
is_deeply [ map { $_->{jobId} } @{ $j->{videos} } ], [ @jobs[3, 2] ],
    '  newest first, from the offset';
my $v = $j->{videos}[0];
is $v->{title}, 'T4', '  with the title';
is $v->{videoUrl}, "/api/videos/$v->{videoId}", '  and the video URL';
is $v->{format}, 'mp4', '  format';
ok $v->{durationSec} >= 1, '  and duration';

($s, $j) = get_json('/api/wallet/' . WALLET . '/videos?offset=10');
is_deeply [ $s, $j->{count}, $j->{total} ], [ 200, 0, 5 ],
    'past the end: an empty page, the total still known';
($s, $j) = get_json('/api/wallet/' . WALLET2 . '/videos');
is_deeply [ $s, $j->{count}, $j->{videos} ], [ 200, 0, [] ],
    'a wallet without videos: empty list';
for my $bad ('limit=0', 'limit=101', 'limit=x', 'offset=-1') {
    ($s) = get_json('/api/wallet/' . WALLET . "/videos?$bad");
    is $s, 400, "wallet videos ?$bad: 400";
}
($s) = get_json('/api/wallet/notawallet/videos');
is $s, 400, 'a malformed wallet: 400';

# points

($s, $j) = get_json('/api/users/' . WALLET2 . '/points');
is $s, 404, 'points of an unknown user: 404';
is $j->{error}, 'User not found', '  saying so';
($s, $j) = get_json('/api/users/' . WALLET . '/points');
is_deeply $j, { walletAddress => WALLET, points => 0 }, 'points of a user';
($s) = get_json('/api/users/bad/points');
is $s, 400, 'points of a malformed wallet: 400';

# 429 past weaveit_max_pending: a long job holds the only slot, so the
# next two stay pending and the third finds the queue full.
$ngx->stop;
$ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_max_jobs 1;'
          . 'weaveit_job_interval 200ms;',
    server => api_locations() . 'location = /api/generate-2 {'
            . ' weaveit_generate; weaveit_max_pending 2; }');
my $long = post_job($ngx, script => script_words(800))->{json}{jobId};
ok wait_until(30, sub { job_status($ngx, $long)->{status} eq 'generating' }),
    'a long job holds the slot';
my @codes = map {
    $ngx->request(method => 'POST', path => '/api/generate-2',
        headers => { 'Content-Type' => 'application/json' },
        body => encode_json({ script => "queued $_", walletAddress => WALLET })
    )
} 1 .. 3;
is_deeply [ map { $_->{status} } @codes ], [ 202, 202, 429 ],
    'two more wait pending, the third: 429';
like $codes[2]{headers}{'retry-after'} // '', qr/^\d+$/, '  with Retry-After';
is $pg->psql("SELECT count(*) FROM video_jobs "
             . "WHERE script_body = 'queued 3'"), 0, '  nothing written';
$ngx->stop;

# cleanup of old failed jobs

$pg->psql("INSERT INTO video_jobs (wallet_address, script_body, status, "
          . "updated_at) VALUES ('" . WALLET . "', 'old', 'failed', "
          . "now() - interval '2 hours'), ('" . WALLET . "', 'new', "
          . "'failed', now())");
$ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 100ms;'
          . 'weaveit_cleanup_failed_after 1h;',
    server => api_locations());
ok wait_until(20, sub { $pg->psql("SELECT count(*) FROM video_jobs "
                                  . "WHERE script_body = 'old'") == 0 }),
    'a failed job older than weaveit_cleanup_failed_after is deleted';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE script_body = 'new'"),
    1, 'a recent one is kept';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
