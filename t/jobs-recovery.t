# Jobs survive their worker: kill -9 of the worker running a job lets
# another worker finish it once its lease expires, and a reload during a
# job lets the old worker finish it, exactly once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(wait_until);
use WeaveIt::Jobs qw(api_locations thread_pool post_job job_status wait_job
                     script_words);

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    workers => 2,
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;',
    server => api_locations());

# A job long enough (several seconds) to be caught while generating.
my $script = script_words(600);

sub claimed_pid {
    my ($id) = @_;
    my $by = $pg->psql("SELECT claimed_by FROM video_jobs "
                       . "WHERE job_id = '$id'");
    return (split m{/}, $by)[1];
}

# kill -9 of the worker that runs the job

my $id = post_job($ngx, script => $script)->{json}{jobId};
ok wait_until(30, sub { (job_status($ngx, $id)->{status} // '')
                        eq 'generating' }),
    'the job is generating';
ok wait_until(30, sub { (job_status($ngx, $id)->{progress} // 0) > 0 }),
    'and reports progress while it runs';
cmp_ok job_status($ngx, $id)->{progress}, '<', 100, '  below 100 until done';
my $victim = claimed_pid($id);
ok((grep { $_ == $victim } $ngx->worker_pids),
   "claimed by worker $victim of this nginx");
kill 'KILL', $victim;

my ($seen, $st) = wait_job($ngx, $id, 120);
is $st->{status}, 'completed', 'another worker finished it';
isnt claimed_pid($id), $victim, 'not the killed one';
is $pg->psql("SELECT attempts FROM video_jobs WHERE job_id = '$id'"), 2,
    'on a second attempt';
is $pg->psql("SELECT count(*) FROM videos WHERE job_id = '$id'"), 1,
    'one video stored';

# nginx -s reload during a job

$id = post_job($ngx, script => $script)->{json}{jobId};
ok wait_until(30, sub { (job_status($ngx, $id)->{status} // '')
                        eq 'generating' }),
    'the next job is generating';
my $old = claimed_pid($id);
$ngx->signal('HUP');

($seen, $st) = wait_job($ngx, $id, 120);
is $st->{status}, 'completed', 'the job completed across the reload';
ok wait_until(30, sub { !grep { $_ == $old } $ngx->worker_pids }),
    'the old worker exits, after its job';
is $pg->psql("SELECT attempts || ' ' || (claimed_by LIKE '%/$old/%') "
             . "FROM video_jobs WHERE job_id = '$id'"), '1 true',
    'once, by the old worker';
is $pg->psql("SELECT count(*) FROM videos WHERE job_id = '$id'"), 1,
    'one video stored';

$ngx->stop;
unlike $ngx->error_log, qr/\[(emerg|crit)\]/, 'no emergency in error.log';

done_testing;
