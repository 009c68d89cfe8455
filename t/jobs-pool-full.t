# A thread pool with less room than weaveit_max_jobs: a claimed job it
# cannot take goes back to pending at once, its attempt given back, and
# every job still completes, each started once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use WeaveIt::Test qw(wait_until);
use WeaveIt::Jobs qw(api_locations post_job wait_job);

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    main => 'thread_pool tiny threads=1 max_queue=1;',
    http => 'weaveit_thread_pool tiny; weaveit_max_jobs 4;'
          . 'weaveit_job_interval 200ms; weaveit_max_pending_per_wallet 20;'
          . 'weaveit_video_size 320x180;',
    server => api_locations());
$pg->wait_schema;

my @ids = map { post_job($ngx, script => "Job number $_ of four.")
                    ->{json}{jobId} } 1 .. 4;
is scalar(grep { defined } @ids), 4, 'four jobs accepted';

for my $id (@ids) {
    my ($seen, $st) = wait_job($ngx, $id, 120);
    is $st->{status}, 'completed', "job $id completed";
}

is $pg->psql("SELECT string_agg(attempts::text, ' ') FROM video_jobs"),
   '1 1 1 1', 'each started once: no attempt lost to the full pool';
like $ngx->error_log,
     qr/thread pool "tiny" is full: job \S+ goes back to pending/,
     'the full pool is logged';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
