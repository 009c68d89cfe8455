# Job upkeep does not queue behind clients: while downloads hold the pool
# (max=1) and thirty more wait for it, the worker running a job still
# renews its lease (2 s) every interval, so the job completes in that
# worker on its first attempt and a second nginx, idle and claiming every
# 200 ms, never takes it.  The downloads are made slow by a lock the test
# holds on videos for 6 s: their statements wait inside PostgreSQL, as a
# slow disk would make them.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(wait_until random_bytes open_client read_client);
use WeaveIt::Jobs qw(api_locations thread_pool post_job script_words);

my $video_location = 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                          weaveit_video $video_id;
                          weaveit_video_chunk 64k;
                      }';
my $jobs_http = 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;';

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => "$jobs_http weaveit_db_pool max=1 timeout=30s;",
    server => api_locations() . $video_location);
$pg->wait_schema;

my (undef, $video) = $pg->store_video(random_bytes(256 << 10, 7));
my $data = $pg->video_data($video);

my $id = post_job($ngx, script => script_words(150))->{json}{jobId};
ok defined $id, 'a long job posted';
my ($worker) = $ngx->worker_pids;
ok wait_until(60, sub {
        $pg->psql("SELECT claimed_by FROM video_jobs WHERE job_id = '$id'")
            =~ m{/$worker/};
    }), 'its worker claimed it';

# the other nginx has brought the schema up to date before the lock
my $other = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => $jobs_http, server => api_locations());
ok wait_until(20, sub { $other->error_log =~ /database schema is up to date/ }),
    'a second nginx runs, claiming every 200 ms';

my $lock = fork // die;
if ($lock == 0) {
    eval { $pg->psql('BEGIN; LOCK TABLE videos IN ACCESS EXCLUSIVE MODE; '
                     . 'SELECT pg_sleep(6); COMMIT') };
    POSIX::_exit(0);
}
ok wait_until(10, sub {
        $pg->psql("SELECT count(*) FROM pg_locks WHERE granted AND "
                  . "relation = 'videos'::regclass AND "
                  . "mode = 'AccessExclusiveLock'") == 1;
    }), 'videos locked';
is $pg->psql("SELECT status FROM video_jobs WHERE job_id = '$id'"),
    'generating', 'the job is generating when the downloads begin';

my @clients = map { open_client(port => $ngx->port,
                                 path => "/api/videos/$video") } 1 .. 31;
ok wait_until(10, sub {
        $pg->psql("SELECT count(*) FROM pg_stat_activity WHERE "
                  . "application_name = 'weaveit/$worker' AND "
                  . "wait_event_type = 'Lock'") >= 1;
    }), 'a download waits for the lock in PostgreSQL';

waitpid $lock, 0;

my $complete = 0;
for my $s (@clients) {
    my ($head, $body) = read_client($s, length $data, 60);
    $complete++ if $head =~ m{^HTTP/1.1 200} && $body eq $data;
    close $s;
}
is $complete, 31, 'every download completes once the lock is gone';

ok wait_until(240, sub {
        $pg->psql("SELECT status FROM video_jobs WHERE job_id = '$id'")
            =~ /^(completed|failed)$/;
    }), 'the job ended';
is $pg->psql("SELECT status || ' ' || attempts || ' ' "
             . "|| (claimed_by LIKE '%/$worker/%') FROM video_jobs "
             . "WHERE job_id = '$id'"),
    'completed 1 true', 'completed by its worker, on its first attempt';
is $pg->psql("SELECT count(*) FROM videos WHERE job_id = '$id'"), 1,
    'one video stored';
unlike $other->error_log, qr/job $id generating/,
    'the second nginx never claimed it';
unlike $ngx->error_log, qr/taken over by another worker/,
    'no result dropped';

$ngx->stop;
$other->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
