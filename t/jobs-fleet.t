# Two nginx instances sharing one PostgreSQL split the work: 20 jobs posted
# to both are each completed exactly once, and health keeps answering while
# jobs encode (latencies in the test log; the hard number is make bench's).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use WeaveIt::Test qw(wait_until);
use WeaveIt::Jobs qw(api_locations thread_pool post_job job_status
                     script_words);

my $pg = WeaveIt::Pg->start;
my @hosts = map {
    WeaveIt::Nginx->start(pg => $pg, main => thread_pool(), workers => 2,
        http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
              . 'weaveit_video_size 320x180;'
              . 'weaveit_max_pending_per_wallet 20;',
        server => api_locations())
} 1 .. 2;

my @ids;
for my $i (0 .. 19) {
    my $r = post_job($hosts[$i % 2], script => script_words(20 + $i));
    push @ids, $r->{json}{jobId} if $r->{status} == 202;
}
is scalar(@ids), 20, '20 jobs accepted by the two hosts';

ok wait_until(120, sub {
    $pg->psql("SELECT count(*) FROM video_jobs "
              . "WHERE status IN ('completed', 'failed')") == 20 }),
    'all 20 ended';

is $pg->psql("SELECT count(*) FROM video_jobs WHERE status = 'completed'"),
    20, 'all 20 completed';
is $pg->psql('SELECT count(*) FROM videos'), 20, 'exactly 20 videos stored';
is $pg->psql('SELECT count(*) FROM (SELECT job_id FROM videos '
             . 'GROUP BY job_id HAVING count(*) > 1) d'), 0,
    'no job stored twice';
is $pg->psql('SELECT max(attempts) FROM video_jobs'), 1,
    'no job run twice';

my %by_host;
for my $row (split /\n/, $pg->psql('SELECT claimed_by FROM video_jobs')) {
    my $pid = (split m{/}, $row)[1];
    for my $i (0, 1) {
        $by_host{$i}++ if grep { $_ == $pid } $hosts[$i]->worker_pids;
    }
}
note "jobs per host: host 1 $by_host{0}, host 2 $by_host{1}";
ok $by_host{0} && $by_host{1}, 'both hosts generated videos';

# Two long jobs encode on host 1 (one per worker) while health is asked.
my @long = map { post_job($hosts[0], script => script_words(2500))
                     ->{json}{jobId} } 1 .. 2;
ok wait_until(30, sub { $pg->psql("SELECT count(*) FROM video_jobs WHERE "
                                  . "status = 'generating'") == 2 }),
    'two jobs encoding at once';
my @lat;
while ($pg->psql("SELECT count(*) FROM video_jobs "
                 . "WHERE status = 'generating'") == 2 && @lat < 2000) {
    my $h = $hosts[0]->get('/api/db/health');
    push @lat, [ $h->{status}, $h->{elapsed} * 1000 ];
    sleep 0.01;
}
my @ms = sort { $a <=> $b } map { $_->[1] } @lat;
note sprintf 'health while two jobs encode: %d requests, p50 %.1f ms, '
    . 'p99 %.1f ms, max %.1f ms', scalar @ms, $ms[@ms / 2],
    $ms[int(@ms * 0.99)], $ms[-1];
cmp_ok scalar(@lat), '>', 10, 'health was asked while both encoded';
is scalar(grep { $_->[0] != 200 } @lat), 0, 'and answered 200 every time';
ok wait_until(120, sub { 2 == grep { job_status($hosts[0], $_)->{status}
                                      eq 'completed' } @long }),
    'the long jobs complete';

$_->stop for @hosts;
unlike $_->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log'
    for @hosts;

done_testing;
