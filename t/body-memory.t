# A JSON POST's body is parsed from memory, never read back from a
# temporary file on the event loop: in a weaveit_generate or
# weaveit_points_award location the body is bounded by what the handler
# can accept (6 x weaveit_max_script + 8k; 8k for an award) and the body
# buffer is raised to hold it, whatever client_body_buffer_size says.  A
# body nginx spools all the same (chunk extensions) is refused with 413;
# client_body_in_file_only is refused by nginx -t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test;
use WeaveIt::Jobs qw(thread_pool WALLET);

my $spooled = qr/a client request body is buffered to a temporary file/;

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_generate_cost 1;
             client_body_buffer_size 1k; client_max_body_size 10m;',
    server => q{
        location = /api/generate { weaveit_generate; }
        location = /api/admin/points { weaveit_points_award; }
        location = /api/generate-4k {
            client_max_body_size 4k;
            weaveit_generate;
        }});
$pg->wait_schema;

sub post {
    my ($path, $body, %h) = @_;
    return $ngx->request(method => 'POST', path => $path,
        headers => { 'Content-Type' => 'application/json', %h },
        body => $body);
}

# A script of 20000 control characters, each escaped as \u0001, and a
# title of 200 emoji, each a surrogate pair: the largest body a valid
# request can have, near 6 x 20000 + 8k.
my $script = "\x01" x 20000;
my $title = "\x{1F600}" x 200;
my $body = JSON::PP->new->ascii->encode({ script => $script,
    title => $title, walletAddress => WALLET });
cmp_ok length $body, '>', 120000, sprintf('a body of %d bytes', length $body);

my $r = post('/api/generate', $body);
is $r->{status}, 402, 'with a 1k client_body_buffer_size: read and checked '
    . '(402: no points)';
is eval { decode_json($r->{body})->{error} }, 'Not enough points',
    '  all the way to the database';
unlike $ngx->error_log, $spooled, '  from memory: no temporary file';

my $note = "\x{1F600}" x 200;
$r = post('/api/admin/points', JSON::PP->new->ascii->encode({
    walletAddress => WALLET, points => 3, note => $note }));
is $r->{status}, 200, 'an award with a note of 200 emoji: 200';
unlike $ngx->error_log, $spooled, '  from memory too';

# over what the handler can accept: nginx's own 413 (error_page maps it
# to JSON in conf/weaveit.conf)

my $padded = $body;
$padded =~ s/\}$/' ' x 10000 . '}'/e;
$r = post('/api/generate', $padded);
is $r->{status}, 413, 'the same body with 10k of blanks: 413, though '
    . 'client_max_body_size is 10m';

sub chunked {
    my ($path, @chunks) = @_;
    my $raw = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nContent-Type: application/json\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n"
            . join('', @chunks) . "0\r\n\r\n";
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ngx->port) or die;
    print $s $raw;
    local $/;
    my $res = <$s>;
    return WeaveIt::Test::parse_response($res // '', 'POST');
}

$r = chunked('/api/generate',
             map { sprintf("%x\r\n%s\r\n", length $_, $_) }
             unpack '(a4096)*', $padded);
is $r->{status}, 413, 'chunked: 413';

$r = post('/api/generate-4k', $body);
is $r->{status}, 413, 'a smaller client_max_body_size still applies';

# A chunked body of a few bytes whose chunk extensions fill the buffer:
# nginx spools it (its own warning says so: what the checks above look
# for), and the handler refuses it without reading the file.

my $small = '{"script":"Hi.","walletAddress":"' . WALLET . '"}';
$r = chunked('/api/generate',
             map { "1;pad=" . ('x' x 2000) . "\r\n$_\r\n" } split //, $small);
like $ngx->error_log, $spooled, 'a body padded with chunk extensions is '
    . 'spooled by nginx';
is $r->{status}, 413, '  and refused: 413';
is $r->{body}, '{"error":"Request body too large"}', '  in JSON';
like $ngx->error_log, qr/request body refused: nginx buffered it to a temp/,
    '  error.log says why';

my $warnings = () = $ngx->error_log =~ /$spooled/g;
is $warnings, 1, 'no other body was spooled';

is $pg->psql('SELECT count(*) FROM video_jobs'), 0, 'no job written';
is $pg->psql("SELECT count(*) FROM points_ledger WHERE reason <> 'award'"),
    0, 'no points charged';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

# nginx -t: a body always written to a file cannot be parsed from memory

for my $handler (qw(weaveit_generate weaveit_points_award)) {
    my ($ok, $out) = WeaveIt::Nginx->test_config(pg => $pg,
        main => thread_pool(), http => 'weaveit_thread_pool weaveit;',
        server => "location = /x { client_body_in_file_only on; $handler; }");
    ok !$ok, "nginx -t: client_body_in_file_only with $handler refused";
    like $out, qr/"client_body_in_file_only" cannot be used where a WeaveIt/,
        '  naming the directive';
}

done_testing;
