# A frozen PostgreSQL (SIGSTOP) never blocks the event loop: health waits
# and ends in 503 at the pool timeout while a static location on the same
# nginx answers at once; after SIGCONT health answers 200 again.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use WeaveIt::Test;

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    http => 'weaveit_db_pool max=2 timeout=2s;',
    server => 'location = /api/db/health { weaveit_health; }');

is $ngx->get('/api/db/health')->{status}, 200, 'healthy before the freeze';

# Runs a health request in a child; returns a reader for its outcome.
sub health_in_background {
    pipe my $rd, my $wr or die;
    my $pid = fork // die;
    if ($pid == 0) {
        close $rd;
        my $r = $ngx->get('/api/db/health');
        printf $wr "%d %.3f %.3f %s\n", $r->{status}, $r->{elapsed}, time,
            $r->{body};
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    return sub { my $l = <$rd>; waitpid $pid, 0; chomp $l; split ' ', $l, 4 };
}

$pg->freeze;

for my $round (1, 2) {
    my $wait = health_in_background();
    sleep 0.3;
    my @static = map { $ngx->get('/static') } 1 .. 5;
    my $static_done = time;
    my ($status, $elapsed, $done, $body) = $wait->();

    is scalar(grep { $_->{status} == 200 } @static), 5,
        "round $round: static answered";
    cmp_ok $static_done, '<', $done,
        "round $round: ... while health was still waiting";
    is $status, 503, "round $round: health ended in 503";
    is $body, '{"ok":false,"error":"Database timeout"}',
        "round $round: saying it timed out";
    cmp_ok $elapsed, '>=', 1.9, "round $round: not before the timeout";
    cmp_ok $elapsed, '<', 3, "round $round: at the timeout (+1 s)";
}

$pg->thaw;

my $r = $ngx->get('/api/db/health');
is $r->{status}, 200, 'after SIGCONT health answers 200 again';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
