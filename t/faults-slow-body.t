# A client sending its POST body one byte a second.  nginx's
# client_body_timeout bounds each wait for the next bytes, not the whole
# body: where it is shorter than a second the request ends at the first
# gap; where it is longer the trickle is served until the client pauses
# longer than it.  Either way the connection is closed (408, unanswered;
# nginx 1.22 logs nothing), no job is created, and the same worker serves
# others all along.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use IO::Select;
use Time::HiRes qw(sleep);
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool post_job WALLET WALLET2);

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit;',
    server => api_locations() . '
        location = /api/generate-strict {
            client_body_timeout 500ms;
            weaveit_generate;
        }
        location = /api/generate-patient {
            client_body_timeout 2s;
            weaveit_generate;
        }');
$pg->wait_schema;
my @workers = $ngx->worker_pids;

my $body = encode_json({ script => 'Slowly.', walletAddress => WALLET2 });

# Sends the headers and the first byte of $body; the socket is returned.
sub slow_post {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ngx->port) or die;
    $s->autoflush(1);
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n"
           . substr($body, 0, 1);
    return $s;
}

# Sends byte $i of $body; false once the server has closed the connection.
sub trickle {
    my ($s, $i) = @_;
    local $SIG{PIPE} = 'IGNORE';
    return 0 if IO::Select->new($s)->can_read(0);
    return syswrite($s, substr($body, $i, 1)) ? 1 : 0;
}

# What the server said before closing: '' or a 408; undef if still open.
sub answer {
    my ($s, $timeout) = @_;
    my $raw = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read($timeout)) {
        my $n = sysread($s, $raw, 4096, length $raw);
        return $raw unless $n;
    }
    return undef;
}

subtest 'client_body_timeout 500ms: ended at the first gap' => sub {
    my $s = slow_post('/api/generate-strict');
    my $sent = 1;
    for my $i (1 .. 10) {
        sleep 1;
        last unless trickle($s, $i);
        $sent++;
    }
    my $raw = answer($s, 20);
    ok defined $raw, "closed after $sent of " . length($body) . ' bytes';
    like $raw // '', qr{^(|HTTP/1.1 408 .*)$}s, '  unanswered or 408';
};

subtest 'client_body_timeout 2s: served until it pauses' => sub {
    my $s = slow_post('/api/generate-patient');
    my ($open, $health, $accepted) = (1, 0, 0);
    for my $i (1 .. 5) {
        sleep 1;
        $open &&= trickle($s, $i);
        $health += $ngx->get('/api/db/health')->{status} == 200;
        $accepted += post_job($ngx, script => 'Meanwhile.')->{status} == 202
            if $i == 3;
    }
    ok $open, 'five bytes in five seconds, the connection open';
    is $health, 5, '  meanwhile health answered 200 each second';
    is $accepted, 1, '  and another POST was accepted';
    my $raw = answer($s, 20);
    ok defined $raw, 'the client pauses: the connection is closed';
    like $raw // '', qr{^(|HTTP/1.1 408 .*)$}s, '  unanswered or 408';
};

is $pg->psql("SELECT count(*) FROM video_jobs WHERE wallet_address = '"
             . WALLET2 . "'"), 0, 'the slow POSTs created no job';
is $pg->psql("SELECT count(*) FROM users WHERE wallet_address = '"
             . WALLET2 . "'"), 0, '  and no user';
is_deeply [ sort $ngx->worker_pids ], [ sort @workers ], 'the same worker';

$ngx->stop;
my $log = $ngx->error_log;
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
unlike $log, qr/exited on signal/, 'no worker crashed';

done_testing;
