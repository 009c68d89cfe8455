# weaveit_auth signature: a wallet's endpoints want an ed25519 signature by
# the wallet's key over the request (issue 11).  Keys and signatures come
# from the openssl command; every refused request gets 401 with
# WWW-Authenticate and its own message, and writes nothing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP;
use Math::BigInt;
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool);

my $dir = tempdir(CLEANUP => 1);

my @B58 = split //,
    '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

sub base58 {
    my ($bytes) = @_;
    my @digits;                         # little-endian, base 58
    for my $byte (unpack 'C*', $bytes) {
        my $carry = $byte;
        for my $d (@digits) {
            $carry += $d * 256;
            $d = $carry % 58;
            $carry = int($carry / 58);
        }
        while ($carry) {
            push @digits, $carry % 58;
            $carry = int($carry / 58);
        }
    }
    my ($zeros) = $bytes =~ /^(\0*)/;
    return '1' x length($zeros) . join '', map { $B58[$_] } reverse @digits;
}

is base58("\xff" x 32), 'JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG',
    'the test encodes base58 (32 bytes of 0xff)';
is base58("\0\0\0\xff"), '1115Q', '  and leading zero bytes';

# an ed25519 key; its wallet is the base58 of the raw public key
sub new_key {
    my ($name) = @_;
    my $pem = "$dir/$name.pem";
    system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $pem) == 0
        or die "openssl genpkey failed";
    my $der = `openssl pkey -in $pem -pubout -outform DER`;
    die "openssl pkey failed" if $? || length $der < 32;
    return { pem => $pem, wallet => base58(substr $der, -32) };
}

sub sign { base58(sign_raw(@_)) }

sub sign_raw {
    my ($key, $text) = @_;
    my $file = "$dir/text";
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $text;
    close $fh;
    my $sig = `openssl pkeyutl -sign -rawin -inkey $key->{pem} -in $file`;
    die "openssl pkeyutl failed" if $? || length $sig != 64;
    return $sig;
}

# the same signature with L, the group's order, added to S: it verifies
# wherever S is not required to be below L
sub malleated {
    my ($sig) = @_;
    my $s = Math::BigInt->from_hex(unpack 'H*', scalar reverse substr $sig, 32);
    $s += Math::BigInt->new(2)->bpow(252)
        + Math::BigInt->new('27742317777372353535851937790883648493');
    my $hex = substr(('0' x 64) . $s->to_hex, -64);
    return substr($sig, 0, 32) . reverse pack 'H*', $hex;
}

sub signed_text {
    my (%a) = @_;
    return join "\n", 'WeaveIt request', "$a{method} $a{uri}",
        "wallet: $a{wallet}", "timestamp: $a{ts}",
        'body-sha256: ' . sha256_hex($a{body});
}

# a few jobs a wallet: the ledger limits the pending jobs of one
my ($key, $key2, $key3, $key4, $key5, $key6) =
    map { new_key($_) } qw(one two three four five six);
my $W = $key->{wallet};

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_video_size 320x180;'
          . 'weaveit_auth signature;',
    server => api_locations() . q{
        location ~ ^/api/videos/(?<video_id>[^/]+)$ {
            weaveit_video $video_id;
        }
        location = /api/generate-60 {
            weaveit_generate;
            weaveit_auth_window 60s;
        }
        location = /api/generate-open {
            weaveit_generate;
            weaveit_auth off;
        }
        location ~ ^/api/open/users/(?<wallet>[^/]+)/points$ {
            weaveit_points $wallet;
            weaveit_auth off;
        }});

sub body {
    my ($wallet, $script) = @_;
    return encode_json({ script => $script // 'Signed hello.',
                         walletAddress => $wallet });
}

# Sends a request signed by $a{key} over what the sign_* arguments say,
# by default the request itself: method, path (and query), wallet, ts,
# body.  without => [ headers left out ], headers => { more }.
sub signed {
    my (%a) = @_;
    my $method = $a{method} // 'GET';
    my $ts = $a{ts} // time;
    my $body = $a{body} // '';
    my $text = signed_text(method => $a{sign_method} // $method,
                           uri => $a{sign_path} // $a{path},
                           wallet => $a{sign_wallet} // $a{wallet},
                           ts => $a{sign_ts} // $ts,
                           body => $a{sign_body} // $body);
    my %h = ('X-WeaveIt-Timestamp' => $ts,
             'X-WeaveIt-Signature' => $a{signature}
                                      // sign($a{key} // $key, $text));
    $h{'Content-Type'} = 'application/json' if $method eq 'POST';
    %h = (%h, %{ $a{headers} // {} });
    delete @h{ @{ $a{without} // [] } };
    my $r = $ngx->request(method => $method, path => $a{path},
                          headers => \%h, body => $body);
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

sub post { signed(method => 'POST', path => '/api/generate', @_) }

sub refused {
    my ($r, $message, $name) = @_;
    is $r->{status}, 401, "$name: 401";
    is $r->{json}{error}, $message, "  $message";
    is $r->{headers}{'www-authenticate'}, 'WeaveIt-Signature',
        '  WWW-Authenticate: WeaveIt-Signature';
}

# every row of every table of the schema, as "table=count"
sub rows {
    my @tables = split /\n/, $pg->psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        . 'ORDER BY 1');
    return join ' ', map {
        "$_=" . $pg->psql(qq{SELECT count(*) FROM "$_"})
    } @tables;
}

$pg->wait_schema;
my $empty = rows();
like $empty, qr/\busers=0\b.*\bvideo_jobs=0\b/, "an empty database ($empty)";

# POST: refused, and nothing written

my $now = time;
my $b1 = body($W);
my $random = base58(join '', map { chr int rand 256 } 1 .. 64);

refused post(wallet => $W, body => $b1,
             without => [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]),
    'Missing signature', 'POST without the headers';
refused post(wallet => $W, body => $b1, without => ['X-WeaveIt-Timestamp']),
    'Missing signature', 'POST without X-WeaveIt-Timestamp';
refused post(wallet => $W, body => $b1, without => ['X-WeaveIt-Signature']),
    'Missing signature', 'POST without X-WeaveIt-Signature';
refused post(wallet => $W, body => $b1, signature => '0OIl' x 22),
    'Invalid signature', 'a signature that is not base58';
refused post(wallet => $W, body => $b1,
             signature => base58("\x01" x 63)),
    'Invalid signature', 'a signature of 63 bytes';
refused post(wallet => $W, body => $b1,
             signature => base58("\x01" x 65)),
    'Invalid signature', 'a signature of 65 bytes';
refused post(wallet => $W, body => $b1, signature => $random),
    'Invalid signature', 'a signature that does not verify';
refused post(wallet => $W, body => $b1, key => $key2),
    'Invalid signature', 'a signature by another key';
refused post(wallet => $W, body => body($W, 'Tampered.'), sign_body => $b1),
    'Invalid signature', 'a tampered body';
refused post(wallet => $W, body => $b1, path => '/api/generate?wait=0',
             sign_path => '/api/generate'),
    'Invalid signature', 'a query added';
refused post(wallet => $W, body => $b1, path => '/api/generate',
             sign_path => '/api/generate?wait=0'),
    'Invalid signature', 'a query taken away';
refused post(wallet => $W, body => $b1, path => '/api/generate',
             sign_path => '/api/generate-60'),
    'Invalid signature', 'another path';
refused post(wallet => $W, body => $b1, path => '/api/%67enerate',
             sign_path => '/api/generate'),
    'Invalid signature', 'the same location by an escaped path';
refused post(wallet => $key2->{wallet}, body => $b1, key => $key2),
    'Invalid signature',
    'signed by another wallet for itself, the body naming this one';
refused post(wallet => $W, body => body($key2->{wallet}), key => $key),
    'Invalid signature', 'signed by this wallet, the body naming another';
refused post(wallet => $W, body => $b1, ts => $now - 400),
    'Signature expired', 'a timestamp 400 s old (window 300 s)';
refused post(wallet => $W, body => $b1, ts => $now + 400),
    'Signature expired', 'a timestamp 400 s ahead';
refused post(path => '/api/generate-60', wallet => $W, body => $b1,
             ts => $now - 100),
    'Signature expired', 'a timestamp 100 s old, weaveit_auth_window 60s';
refused post(wallet => $W, body => $b1, ts => $now - 400, key => $key2),
    'Invalid signature', 'an old timestamp, a bad signature: invalid first';
refused post(wallet => $W, body => $b1, ts => 'soon'),
    'Invalid signature', 'a timestamp that is not a number';
refused post(wallet => $W, body => $b1, ts => '1.7e9'),
    'Invalid signature', 'a timestamp in another notation';
refused post(wallet => $W, body => $b1, ts => ($now . '0' x 20)),
    'Invalid signature', 'a timestamp past any time_t';
refused post(wallet => $W, body => $b1, sign_ts => $now - 1, ts => $now),
    'Invalid signature', 'another timestamp than the one signed';

# a header twice: which was signed?
my $text = signed_text(method => 'POST', uri => '/api/generate', wallet => $W,
                       ts => $now, body => $b1);
my $sig = sign($key, $text);
refused post(wallet => $W, body => $b1, ts => $now, signature => $sig,
             headers => { 'X-WeaveIt-Signature' =>
                          "$sig\r\nX-WeaveIt-Signature: $sig" }),
    'Invalid signature', 'X-WeaveIt-Signature twice';

# a valid wallet that is no ed25519 point (y = 2)
my $offcurve = '8opHzTAnfzRpPEx21XtnrVTX28YQuCpAjcn1PczScKh';
refused post(wallet => $offcurve, body => body($offcurve),
             signature => $random),
    'Invalid signature', 'a wallet that is not an ed25519 key';

# the order: a bad body is 400 whether signed or not
my $r = post(wallet => $W, body => '{"script":', without =>
             [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]);
is $r->{status}, 400, 'unsigned, invalid JSON: 400 before 401';
$r = post(wallet => $W, body => body('notawallet'), without =>
          [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]);
is $r->{status}, 400, 'unsigned, walletAddress invalid: 400 before 401';
is $r->{json}{error}, 'walletAddress must be a Solana base58 public key',
    '  naming the field';

is rows(), $empty, 'nothing written by any refused request';

# POST: accepted

$r = post(wallet => $W, body => $b1);
is $r->{status}, 202, 'a correctly signed POST: 202' or diag $r->{body};
ok $r->{json}{jobId}, '  with a job';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE wallet_address = '$W'"),
    1, '  written for the wallet';
my $job = $r->{json}{jobId};

$r = post(wallet => $W, body => body($W, 'Within the window.'),
          ts => time - 250);
is $r->{status}, 202, 'signed 250 s ago: 202';
$r = post(wallet => $W, body => body($W, 'Clock ahead.'), ts => time + 250);
is $r->{status}, 202, 'signed 250 s ahead: 202';
my $W4 = $key4->{wallet};
$r = post(wallet => $W4, body => body($W4, 'With a query.'), key => $key4,
          path => '/api/generate?wait=0');
is $r->{status}, 202, 'signed with its query: 202';
$r = post(wallet => $W4, body => body($W4, 'Long. ' x 3000), key => $key4);
is $r->{status}, 202,
    'signed, a body nginx kept in a temp file (18 KB): 202';
$r = post(wallet => $W4, body => body($W4, 'Long. ' x 3000), key => $key4,
          sign_body => body($W4, 'Long. ' x 2999 . 'Lung. '));
is $r->{status}, 401, '  and the same, its last bytes tampered with: 401';
my $W5 = $key5->{wallet};
$r = post(wallet => $W5, body => body($W5, 'Near the edge.'), key => $key5,
          path => '/api/generate-60', ts => time - 50);
is $r->{status}, 202, 'signed 50 s ago, weaveit_auth_window 60s: 202';

# S + L verifies where S is not checked to be below L: refused here
my $mts = time;
my $mb = body($W5, 'Malleable?');
my $mraw = sign_raw($key5, signed_text(method => 'POST',
                                       uri => '/api/generate', wallet => $W5,
                                       ts => $mts, body => $mb));
refused post(wallet => $W5, body => $mb, ts => $mts,
             signature => base58(malleated($mraw))),
    'Invalid signature', 'a signature made non-canonical (S + L)';
$r = post(wallet => $W5, body => $mb, ts => $mts,
          signature => base58($mraw));
is $r->{status}, 202, '  the canonical one: 202';

# the same signed POST twice: the second is a replay (the ledger's table
# of spent signatures refuses it)
my $W6 = $key6->{wallet};
my $replay_ts = time;
my $b2 = body($W6, 'Only once.');
$r = post(wallet => $W6, body => $b2, ts => $replay_ts, key => $key6);
is $r->{status}, 202, 'a signed POST: 202';
$r = post(wallet => $W6, body => $b2, ts => $replay_ts, key => $key6);
refused $r, 'Signature already used', 'the same signed POST again';
is $pg->psql("SELECT count(*) FROM video_jobs "
             . "WHERE script_body = 'Only once.'"), 1, '  one job';

# GETs of a wallet: signed like POSTs, over the empty body

my $points = "/api/users/$W/points";
my $videos = "/api/wallet/$W/videos";

refused signed(path => $points, wallet => $W, without =>
               [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]),
    'Missing signature', 'unsigned points';
refused signed(path => $videos, wallet => $W, without =>
               [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]),
    'Missing signature', 'unsigned wallet videos';
refused signed(path => $points, wallet => $W, key => $key2),
    'Invalid signature', 'points signed by another key';
refused signed(path => $videos, wallet => $W, sign_path => $points),
    'Invalid signature', 'wallet videos with the signature of points';
refused signed(path => "$videos?limit=3", wallet => $W,
               sign_path => "$videos?limit=2"),
    'Invalid signature', 'wallet videos, the query tampered with';
refused signed(path => $points, wallet => $W, sign_body => '{}'),
    'Invalid signature', 'points signed over a body';
refused signed(path => $points, wallet => $W, ts => time - 400),
    'Signature expired', 'points signed 400 s ago';
$r = signed(method => 'HEAD', path => $points, wallet => $W,
            sign_method => 'GET');
is $r->{status}, 401, 'HEAD of points with the signature of a GET: 401';

$r = signed(path => $points, wallet => $W);
is $r->{status}, 200, 'signed points: 200';
is_deeply $r->{json}, { walletAddress => $W, points => 0 }, '  the points';
$r = signed(path => $points, wallet => $W);
is $r->{status}, 200, '  the same signed GET again: 200 (GETs may replay)';
$r = signed(method => 'HEAD', path => $points, wallet => $W);
is $r->{status}, 200, 'signed HEAD of points: 200';

$r = signed(path => "/api/users/$key3->{wallet}/points",
            wallet => $key3->{wallet}, key => $key3);
is $r->{status}, 404, 'signed points of an unknown wallet: 404';

$r = signed(path => "$videos?limit=2&offset=0", wallet => $W);
is $r->{status}, 200, 'signed wallet videos with a query: 200';
is $r->{json}{walletAddress}, $W, '  of the wallet';
$r = signed(path => "/api/wallet/$key3->{wallet}/videos",
            wallet => $key3->{wallet}, key => $key3);
is_deeply [ $r->{status}, $r->{json}{total} ], [ 200, 0 ],
    'signed wallet videos of a wallet without any: 200, empty';

$r = signed(path => '/api/users/notawallet/points', wallet => 'notawallet',
            without => [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]);
is $r->{status}, 400, 'unsigned points of a malformed wallet: 400';
$r = signed(path => "$videos?limit=0", wallet => $W,
            without => [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]);
is $r->{status}, 400, 'unsigned wallet videos, limit=0: 400';

# what is not a wallet's stays public: a job's status, a video by its id

$r = $ngx->get("/api/videos/status/$job");
is $r->{status}, 200, 'unsigned job status: 200';
my (undef, $video) = $pg->store_video('not really an mp4', wallet => $W);
$r = $ngx->get("/api/videos/$video");
is_deeply [ $r->{status}, $r->{body} ], [ 200, 'not really an mp4' ],
    'unsigned video by its id: 200';

# weaveit_auth off: as before

$r = post(path => '/api/generate-open', wallet => $key2->{wallet},
          body => body($key2->{wallet}, 'Unsigned.'),
          without => [ 'X-WeaveIt-Timestamp', 'X-WeaveIt-Signature' ]);
is $r->{status}, 202, 'weaveit_auth off: an unsigned POST: 202';
$r = $ngx->get("/api/open/users/$key2->{wallet}/points");
is $r->{status}, 200, 'weaveit_auth off: unsigned points: 200';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
like $ngx->error_log,
    qr/signature for wallet "\Q$W\E" refused: the signature does not verify/,
    'a refusal is logged at info with its cause';

done_testing;
