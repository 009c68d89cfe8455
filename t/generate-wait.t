# Wait mode has bounds: past weaveit_generate_wait_timeout, or when the
# worker exits (a reload), the waiting POST gets 202 with the job's URLs
# at once, and the job goes on to complete.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use WeaveIt::Test qw(wait_until);
use WeaveIt::Jobs qw(api_locations thread_pool post_job wait_job
                     script_words);

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
          . 'weaveit_max_pending_per_wallet 20;',
    server => api_locations() . '
        location = /api/generate-short {
            weaveit_generate_wait_timeout 1s;
            weaveit_generate;
        }');
$pg->wait_schema;

# a job of several seconds
my $long = script_words(1500);

sub accepted_ok {
    my ($r, $name) = @_;
    is $r->{status}, 202, "$name: 202";
    my $j = eval { decode_json($r->{body}) } // {};
    like $j->{jobId} // '', qr/^[0-9a-f-]{36}$/, "$name: with the jobId";
    is $j->{status}, 'pending', "$name: pending";
    is $j->{statusUrl}, "/api/videos/status/$j->{jobId}",
        "$name: and its statusUrl";
    is $j->{videoUrl}, "/api/videos/$j->{jobId}", "$name: and its videoUrl";
    return $j->{jobId};
}

# past the wait timeout

my $t0 = time;
my $r = $ngx->request(method => 'POST', path => '/api/generate-short?wait=1',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ script => $long,
        walletAddress => '4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T' }),
    timeout => 60);
my $took = time - $t0;
my $id = accepted_ok($r, 'a wait past weaveit_generate_wait_timeout 1s');
cmp_ok $took, '<', 10, "  answered after ${\ sprintf '%.1f', $took} s";
my ($seen, $st) = wait_job($ngx, $id, 180);
is $st->{status}, 'completed', '  and the job completed without its waiter';

# a reload: the waiter is answered when its worker exits

my $body = encode_json({ script => $long,
    walletAddress => 'So11111111111111111111111111111111111111112' });
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ngx->port) or die "connect: $!";
print $s "POST /api/generate?wait=1 HTTP/1.0\r\nHost: localhost\r\n"
       . "Content-Type: application/json\r\n"
       . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
ok wait_until(30, sub {
        $pg->psql("SELECT count(*) FROM video_jobs WHERE status = "
                  . "'generating'") == 1 }),
    'a waited-for job is generating';

my @old = $ngx->worker_pids;
$t0 = time;
$ngx->signal('HUP');

my ($raw, $sel) = ('', IO::Select->new($s));
while (time - $t0 < 30 && $sel->can_read(30 - (time - $t0))) {
    last unless sysread $s, $raw, 65536, length $raw;
}
$took = time - $t0;
$r = WeaveIt::Test::parse_response($raw, 'POST');
$id = accepted_ok($r, 'a wait across a reload');
cmp_ok $took, '<', 10,
    "  answered ${\ sprintf '%.1f', $took} s after the reload, "
    . 'not after the job';
is $pg->psql("SELECT status FROM video_jobs WHERE job_id = '$id'"),
   'generating', '  while its job still runs';

($seen, $st) = wait_job($ngx, $id, 180);
is $st->{status}, 'completed', '  the old worker finished the job';
ok wait_until(30, sub { !grep { my $o = $_; grep { $_ == $o } @old }
                             $ngx->worker_pids }),
    '  and then exited';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
