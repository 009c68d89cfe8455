# Every bad request to POST /api/generate gets its status and a JSON error
# naming the problem, and writes nothing at all.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool WALLET);

my $pg = WeaveIt::Pg->start;
# The second generate location maps nginx's own 413 to JSON the way
# conf/weaveit.conf does.
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; client_max_body_size 64k;'
          . 'weaveit_max_pending_per_wallet 100;',
    server => api_locations() . q{
        location = /api/generate-413 {
            error_page 413 = @body_too_large;
            weaveit_generate;
        }
        location = /api/generate-dark {
            weaveit_theme dark;
            weaveit_generate;
        }
        location @body_too_large {
            default_type "application/json; charset=utf-8";
            return 413 '{"error":"Request body too large"}';
        }});

my $json = 'application/json';
sub body { encode_json({ @_ }) }

my @cases = (
    # name, content type, body, status, error pattern
    [ 'not JSON', $json, 'hello', 400, qr/^Invalid JSON/ ],
    [ 'truncated JSON', $json, '{"script":"x","walletAddress":"', 400,
      qr/^Invalid JSON/ ],
    [ 'empty body', $json, '', 400, qr/^Invalid JSON/ ],
    [ 'JSON array', $json, '[1,2]', 400,
      qr/^Request body must be a JSON object$/ ],
    [ 'JSON string', $json, '"script"', 400, qr/^Invalid JSON|JSON object/ ],
    [ 'duplicate keys', $json,
      '{"script":"a","script":"b","walletAddress":"' . WALLET . '"}', 400,
      qr/^Invalid JSON.*duplicate/ ],
    [ 'invalid UTF-8', $json,
      qq({"script":"caf\xe9","walletAddress":") . WALLET . '"}', 400,
      qr/^Invalid JSON/ ],
    [ 'NUL in script', $json,
      '{"script":"a\u0000b","walletAddress":"' . WALLET . '"}', 400,
      qr/^Invalid JSON/ ],
    [ 'script missing', $json, body(walletAddress => WALLET), 400,
      qr/^script is required$/ ],
    [ 'script null', $json, body(script => undef, walletAddress => WALLET),
      400, qr/^script is required$/ ],
    [ 'script empty', $json, body(script => '', walletAddress => WALLET),
      400, qr/^script must not be empty$/ ],
    [ 'script whitespace', $json,
      body(script => " \n\t \r\n", walletAddress => WALLET), 400,
      qr/^script must not be empty$/ ],
    # what the generator's weaveit_text_check() counts as blank too
    [ 'script of form feed, vertical tab, no-break space', $json,
      body(script => "\f\x{0b}\x{a0}", walletAddress => WALLET), 400,
      qr/^script must not be empty$/ ],
    [ 'script too long', $json,
      body(script => 'a' x 20001, walletAddress => WALLET), 400,
      qr/^script is longer than 20000 bytes$/ ],
    [ 'script not a string', $json,
      body(script => 42, walletAddress => WALLET), 400,
      qr/^script must be a string$/ ],
    [ 'script an object', $json,
      body(script => { a => 1 }, walletAddress => WALLET), 400,
      qr/^script must be a string$/ ],
    [ 'wallet missing', $json, body(script => 'hi'), 400,
      qr/^walletAddress is required$/ ],
    [ 'wallet too short', $json, body(script => 'hi', walletAddress => 'abc'),
      400, qr/^walletAddress must be a Solana base58 public key$/ ],
    [ 'wallet not base58', $json,
      body(script => 'hi', walletAddress => '0OIl' x 10), 400,
      qr/^walletAddress must be a Solana base58 public key$/ ],
    [ 'wallet decodes to 24 bytes', $json,
      body(script => 'hi', walletAddress => '2' x 33), 400,
      qr/^walletAddress must be a Solana base58 public key$/ ],
    [ 'wallet decodes to 33 bytes', $json,
      body(script => 'hi', walletAddress => 'z' x 44), 400,
      qr/^walletAddress must be a Solana base58 public key$/ ],
    [ 'wallet not a string', $json,
      body(script => 'hi', walletAddress => 12345), 400,
      qr/^walletAddress must be a Solana base58 public key$/ ],
    [ 'title too long', $json,
      body(script => 'hi', walletAddress => WALLET, title => 'x' x 201), 400,
      qr/^title must be at most 200 characters$/ ],
    [ 'title not a string', $json,
      body(script => 'hi', walletAddress => WALLET, title => [1]), 400,
      qr/^title must be a string$/ ],
    [ 'format unknown', $json,
      body(script => 'hi', walletAddress => WALLET, format => 'html'), 400,
      qr/^format must be "text" or "markdown"$/ ],
    [ 'format auto (no format is auto)', $json,
      body(script => 'hi', walletAddress => WALLET, format => 'auto'), 400,
      qr/^format must be "text" or "markdown"$/ ],
    [ 'format not a string', $json,
      body(script => 'hi', walletAddress => WALLET, format => ['text']),
      400, qr/^format must be "text" or "markdown"$/ ],
    [ 'format in capitals', $json,
      body(script => 'hi', walletAddress => WALLET, format => 'Markdown'),
      400, qr/^format must be "text" or "markdown"$/ ],
    [ 'theme unknown', $json,
      body(script => 'hi', walletAddress => WALLET, theme => 'blue'), 400,
      qr/^theme must be "light" or "dark"$/ ],
    [ 'theme not a string', $json,
      body(script => 'hi', walletAddress => WALLET, theme => 1), 400,
      qr/^theme must be "light" or "dark"$/ ],
    [ 'wrong content type', 'text/plain',
      body(script => 'hi', walletAddress => WALLET), 415,
      qr/^Content-Type must be application\/json$/ ],
    [ 'form content type', 'application/x-www-form-urlencoded',
      'script=hi', 415, qr/application\/json/ ],
    [ 'no content type', undef,
      body(script => 'hi', walletAddress => WALLET), 415,
      qr/application\/json/ ],
    # nginx itself refuses a declared length over the limit, before any
    # handler runs: its own 413 page, not JSON.
    [ 'body over client_max_body_size', $json,
      body(script => 'a' x 70000, walletAddress => WALLET), 413, undef ],
);

for my $c (@cases) {
    my ($name, $type, $body, $status, $error) = @$c;
    my %h = defined $type ? ('Content-Type' => $type) : ();
    my $r = $ngx->request(method => 'POST', path => '/api/generate',
                          headers => \%h, body => $body);
    is $r->{status}, $status, "$name: $status";
    next unless $error;
    my $got = eval { decode_json($r->{body}) } // {};
    like $got->{error} // '', $error, "$name: error says so";
}

my $r = $ngx->request(method => 'POST', path => '/api/generate-413',
    headers => { 'Content-Type' => $json },
    body => body(script => 'a' x 70000, walletAddress => WALLET));
is $r->{status}, 413, 'over client_max_body_size with error_page: 413';
is $r->{body}, '{"error":"Request body too large"}', '  in JSON';

$r = $ngx->get('/api/generate');
is $r->{status}, 405, 'GET: 405';
is $r->{headers}{allow}, 'POST', 'GET: Allow: POST';

# the 400s above never needed the database: a worker may still be
# creating the schema
$pg->wait_schema;
is $pg->psql('SELECT count(*) FROM video_jobs'), 0, 'no job row written';
is $pg->psql('SELECT count(*) FROM users'), 0, 'no user row written';

# The limits are inclusive, fields beyond the three are ignored, and a
# charset parameter is fine.
$r = $ngx->request(method => 'POST', path => '/api/generate',
    headers => { 'Content-Type' => 'application/json; charset=utf-8' },
    body => body(script => 'a' x 20000, walletAddress => WALLET,
                 title => "\x{e9}" x 200, extra => 'ignored'));
is $r->{status}, 202, '20000 bytes, 200 characters, extra field: accepted';
is $pg->psql('SELECT count(*) FROM video_jobs'), 1, 'and written';
is $pg->psql('SELECT count(*) FROM video_jobs WHERE script_format IS NULL'),
    1, 'without a format: none recorded, the generator detects it';
is $pg->psql('SELECT theme FROM video_jobs'), 'light',
    'without a theme: the location\'s, weaveit_theme light by default';

# "theme" chooses, weaveit_theme is the default of its location
for my $c ([ '/api/generate', 'dark', 'dark' ],
           [ '/api/generate-dark', undef, 'dark' ],
           [ '/api/generate-dark', 'light', 'light' ])
{
    my ($path, $theme, $want) = @$c;
    $r = $ngx->request(method => 'POST', path => $path,
        headers => { 'Content-Type' => $json },
        body => body(script => "Theme test.", walletAddress => WALLET,
                     defined $theme ? (theme => $theme) : ()));
    my $id = eval { decode_json($r->{body})->{jobId} } // '';
    is $pg->psql("SELECT theme FROM video_jobs WHERE job_id = '$id'"),
        $want, "$path, theme " . ($theme // 'none') . ": $want recorded";
    my $st = eval { decode_json($ngx->get("/api/videos/status/$id")->{body}) };
    is $st->{theme}, $want, "$path, theme " . ($theme // 'none')
        . ": the status says $want";
}

# a format given is recorded with the job; null is no format
for my $format ('markdown', 'text', undef) {
    $r = $ngx->request(method => 'POST', path => '/api/generate',
        headers => { 'Content-Type' => $json },
        body => body(script => "Format test.", walletAddress => WALLET,
                     format => $format));
    my $f = $format // 'null';
    is $r->{status}, 202, "format $f: accepted";
    my $id = eval { decode_json($r->{body})->{jobId} } // '';
    is $pg->psql("SELECT coalesce(script_format, 'null') FROM video_jobs "
                 . "WHERE job_id = '$id'"), $f, "format $f: recorded";
    my $st = eval { decode_json($ngx->get("/api/videos/status/$id")->{body}) };
    ok $st && exists $st->{format}, "format $f: the status has a format";
    is $st->{format} // 'null', $f, "format $f: the status says $f";
}

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
