# The example configuration, conf/weaveit.conf, as make run uses it (only
# its paths, port and database moved into a test directory): it starts,
# answers health, and every /api/ answer is JSON, nginx's own errors
# included: a request it cannot parse, a header or URI too long, a path no
# location takes, a body too large outside the generate location.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use WeaveIt::Test;

my $pg = WeaveIt::Pg->start;
my $dir = WeaveIt::Test::new_dir();
my $port = WeaveIt::Test::free_port();

open my $in, '<', 'conf/weaveit.conf' or die "conf/weaveit.conf: $!";
my $conf = do { local $/; <$in> };
close $in;

my $module = WeaveIt::Nginx::module_path();
my $conninfo = $pg->conninfo;
my %moved = (
    qr{load_module \S+;}        => "load_module $module;",
    qr{pid \S+;}                => "pid $dir/nginx.pid;",
    qr{error_log \S+ info;}     => "error_log $dir/error.log info;",
    qr{access_log \S+;}         => 'access_log off;',
    qr{var/tmp/}                => "$dir/tmp/",
    qr{listen 127\.0\.0\.1:8080;} => "listen 127.0.0.1:$port;",
    qr{weaveit_db "[^"]*";}     => "weaveit_db \"$conninfo\";",
);
for my $from (keys %moved) {
    ok $conf =~ s/$from/$moved{$from}/g, "the example has $moved{$from}";
}
mkdir "$dir/tmp";
chmod 0777, "$dir/tmp";
open my $out, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
print $out $conf;
close $out;

my $ngx = bless { dir => $dir, port => $port }, 'WeaveIt::Nginx';
$ngx->_run;
$pg->wait_schema;

my $r = $ngx->get('/api/db/health');
is $r->{status}, 200, 'the example configuration serves health';
is $r->{body}, '{"ok":true}', '  in JSON';

$r = $ngx->get('/api/voices');
is $r->{status}, 200, 'and the voices';
like $r->{body}, qr/^\{"backend":"espeak","default":"en","voices":\[\{"name":/,
    '  espeak-ng\'s';

# raw requests, for what no well-behaved client sends
sub raw {
    my ($text) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    print $s $text;
    local $/;
    my $res = <$s>;
    return WeaveIt::Test::parse_response($res // '', 'GET');
}

my $spend = '{"script":"hi","walletAddress":'
          . '"4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"}';
my $long = 'a' x 10000;
my $big = 'b' x 20000;
my @cases = (
    [ 'a path no location takes', "GET /api/videos/status/a/b HTTP/1.0\r\n\r\n",
      404, 'Not found' ],
    [ 'a path outside /api/', "GET /nothing HTTP/1.0\r\n\r\n",
      404, 'Not found' ],
    [ 'a NUL in the path', "GET /api/videos/%00 HTTP/1.0\r\n\r\n",
      400, 'Bad request' ],
    [ 'a request line nginx cannot parse', "GARBAGE\r\n\r\n",
      400, 'Bad request' ],
    [ 'a URI too long', "GET /api/$long HTTP/1.0\r\n\r\n",
      414, 'URI too long' ],
    [ 'a header too large', "GET /api/db/health HTTP/1.0\r\nX-Big: $big\r\n\r\n",
      400, 'Bad request' ],
    [ 'a body too large outside generate',
      "POST /api/db/health HTTP/1.0\r\nContent-Type: application/json\r\n"
      . "Content-Length: 2000000\r\n\r\n", 413, 'Request body too large' ],
    [ 'a body too large for generate',
      "POST /api/generate HTTP/1.0\r\nContent-Type: application/json\r\n"
      . "Content-Length: 2000000\r\n\r\n", 413, 'Request body too large' ],
    [ 'the internal error pages are not reachable',
      "GET /weaveit-error/400 HTTP/1.0\r\n\r\n", 404, 'Not found' ],
    [ 'an unsigned spend (weaveit_auth signature)',
      "POST /api/generate HTTP/1.0\r\nContent-Type: application/json\r\n"
      . 'Content-Length: ' . length($spend) . "\r\n\r\n$spend",
      401, 'Missing signature' ],
);

for my $c (@cases) {
    my ($name, $text, $status, $error) = @$c;
    $r = raw($text);
    is $r->{status}, $status, "$name: $status";
    like $r->{headers}{'content-type'} // '', qr{^application/json},
        "$name: JSON";
    is eval { decode_json($r->{body})->{error} } // $r->{body}, $error,
        "$name: says \"$error\"";
}

$r = $ngx->get('/');
like $r->{headers}{'content-type'}, qr{^text/html}, 'the demo page is HTML';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
