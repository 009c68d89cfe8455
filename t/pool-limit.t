# The pool never opens more than max connections per worker: 200 concurrent
# health requests through max=2 all succeed, queued rather than refused.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(parallel_requests);

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, workers => 2,
    http => 'weaveit_db_pool max=2 timeout=20s;',
    server => 'location = /api/db/health { weaveit_health; }');

# A watcher samples pg_stat_activity while the load runs.
my $per_worker = "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n "
    . "FROM pg_stat_activity WHERE application_name LIKE 'weaveit/%' "
    . "GROUP BY application_name) s";
my $stop_file = $ngx->dir . '/stop-watch';
pipe my $rd, my $wr or die;
my $pid = fork // die;
if ($pid == 0) {
    close $rd;
    my ($max, $samples) = (0, 0);
    until (-e $stop_file) {
        my $n = eval { $pg->psql($per_worker) } // 0;
        $max = $n if $n > $max;
        $samples++;
        sleep 0.02;
    }
    print $wr "$max $samples\n";
    close $wr;
    POSIX::_exit(0);
}
close $wr;

my @res = parallel_requests(200, port => $ngx->port,
                            path => '/api/db/health');
open my $fh, '>', $stop_file or die;
close $fh;
my ($max, $samples) = split ' ', scalar <$rd>;
waitpid $pid, 0;

is scalar(@res), 200, '200 responses';
is scalar(grep { $_->{status} == 200 && $_->{body} eq '{"ok":true}' } @res),
    200, 'all of them 200 {"ok":true}';
cmp_ok $samples, '>', 0, "pg_stat_activity sampled ($samples times)";
cmp_ok $max, '>=', 1, 'connections were seen';
cmp_ok $max, '<=', 2, "never more than 2 connections per worker (saw $max)";

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
