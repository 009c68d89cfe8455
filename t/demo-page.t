# The demo page (weaveit_demo) in a real browser, headless Chromium: the
# page makes an ed25519 key, shows its wallet, signs every call to the
# signed endpoints, fills the form, follows the job, plays the video, lists
# the wallet's points and videos (play, download), keeps its key across a
# reload, shows the API's errors, signs on the server's time when its own
# clock is off, and signs with a Solana wallet extension when there is one.
# Each signed request the browser sent is verified in Node from the wire
# (t/browser/signature.js), whatever the server's setting.
#
# Twice: with weaveit_auth off (the default: the server ignores the
# signatures) and with weaveit_auth signature (the server refuses a request
# without a valid one).  The second needs the module's weaveit_auth
# (issue #11): where `nginx -t` says the directive is unknown, it is
# skipped, saying so.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Math::BigInt;
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool);

my $root = WeaveIt::Test::root();
-d "$root/build/browser/node_modules/playwright-core"
    or BAIL_OUT('playwright-core missing: make test installs it');

# a new wallet gets 5 points, a video costs 2
my $HTTP = 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
         . ' weaveit_signup_points 5; weaveit_generate_cost 2;';
my $SERVER = api_locations() . '
        location = / { weaveit_demo; }
        location = /api/voices { weaveit_voices_list; }
        location ~ ^/api/videos/(?<video_id>[^/]+)$ {
            weaveit_video $video_id;
        }';
my $UUID = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

my $pg = WeaveIt::Pg->start;

# base58 of bytes, a third implementation (the page's and Node's are the
# others)
sub base58 {
    my ($bytes) = @_;
    my @a = split //,
        '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    my $n = Math::BigInt->from_hex('0x' . (unpack('H*', $bytes) || '0'));
    my $s = '';
    while ($n > 0) {
        my ($q, $r) = $n->copy->bdiv(58);
        $s = $a[$r] . $s;
        $n = $q;
    }
    $bytes =~ /^(\0*)/;
    return ('1' x length $1) . $s;
}

sub base64url {
    (my $s = shift) =~ tr{-_}{+/};
    return decode_base64($s . '=' x (-length($s) % 4));
}

sub demo {
    my ($auth) = @_;
    my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
        http => $HTTP . ($auth eq 'off' ? '' : " weaveit_auth $auth;"),
        server => $SERVER);
    $pg->wait_schema;

    my $r = $ngx->get('/');
    is $r->{status}, 200, 'GET / serves the page';
    is $r->{headers}{'content-type'}, 'text/html; charset=utf-8', '  as HTML';
    is $ngx->request(method => 'POST', path => '/', body => 'x')->{status},
        405, '  and only for GET and HEAD';
    unlike $r->{body}, qr{\b(?:src|href)\s*=\s*["']?(?:https?:)?//}i,
        '  and loads nothing from elsewhere';

    my $dir = WeaveIt::Test::new_dir();
    my $url = "http://127.0.0.1:${\ $ngx->port}/";
    my $out = `node $root/t/browser/demo-page.js $url $dir/chromium $dir $auth`;
    my $seen = eval { decode_json($out) } // { fatal => $out };
    note explain $seen;

    ok !$seen->{fatal}, 'the browser ran the page'
        or diag $seen->{fatal};
    like $seen->{title}, qr/WeaveIt/, 'the page has its title';

    # the wallet: a key made in the browser, kept in localStorage
    my $before = $seen->{before} // {};
    my $wallet = $before->{wallet} // '';
    like $wallet, qr/^[1-9A-HJ-NP-Za-km-z]{32,44}$/,
        "the page shows its wallet: $wallet";
    is $before->{kind}, 'browser', '  signing with a browser key';
    like $before->{signer}, qr/^Browser key: made in this browser/,
        '  and says so';
    ok !$before->{connectShown}, '  (there is no extension to connect)';
    ok $before->{readOnly}, '  in a read-only field';
    my $jwk = $seen->{stored} // {};
    ok $jwk->{kty} eq 'OKP' && $jwk->{crv} eq 'Ed25519' && $jwk->{hasPrivate},
        'the key is kept in localStorage, an ed25519 private JWK';
    is base58(base64url($jwk->{x} // '')), $wallet,
        '  whose public key is the wallet';
    is $seen->{base58Mismatches}, 0, "the page's base58 agrees with Node's";
    like $before->{points}, qr/^0 \(a new wallet/,
        'a new wallet: no points yet (404)';
    is $before->{libraryStatus}, 'No videos yet.', '  and no videos';

    # a job from the form
    is $seen->{error}, undef, 'no error shown';
    like $seen->{status}, qr/completed/,
        "the page followed the job: $seen->{status}";
    is $seen->{progress}, 100, 'progress bar full';
    like $seen->{src}, qr{^/api/videos/$UUID$}, 'the video comes from the API';
    cmp_ok $seen->{duration} // 0, '>', 1,
        "the video loaded ($seen->{duration} s)";
    cmp_ok $seen->{played} // 0, '>', 0.5, 'and plays';
    is $pg->psql("SELECT title FROM video_jobs WHERE wallet_address ="
                 . " '$wallet' AND status = 'completed'"),
        'Demo page test', 'the job was made from the form, for the wallet';
    cmp_ok $seen->{voiceOptions} // 0, '>', 50,
        "the voice select offers espeak-ng's voices ($seen->{voiceOptions})";
    like $seen->{voiceFirst}, qr/^en \x{2014} .*\(default\)$/,
        "  the default first: $seen->{voiceFirst}";
    is $pg->psql("SELECT voice FROM video_jobs WHERE wallet_address ="
                 . " '$wallet' AND status = 'completed'"),
        'en-US', '  and the job has the voice chosen in it';

    my $after = $seen->{after} // {};
    is $after->{points}, '3', 'after the job, the points: 5 - 2 = 3';
    is scalar @{ $after->{videos} // [] }, 1, 'the library lists the video';
    my $v = $after->{videos}[0] // {};
    is $v->{title}, 'Demo page test', '  with its title';
    like $v->{length}, qr/^[1-9][0-9]* s$/, "  its length ($v->{length})";
    like $v->{made}, qr/\d/, '  and when it was made';
    is $v->{play}, 'Play Demo page test', '  a Play button named for it';
    like $v->{href}, qr{^/api/videos/$UUID$}, '  and a download link';
    ok $v->{download}, '  that downloads';
    is $after->{caption}, '1 video, newest first', '  captioned';
    ok -s "$dir/demo.png", "screenshot at $dir/demo.png";

    is $seen->{librarySrc}, $v->{href}, 'Play loads it into the player';
    cmp_ok $seen->{libraryPlayed} // 0, '>', 0.5, '  and it plays';
    is $seen->{download}{name}, 'Demo page test.mp4', 'Download saves it';
    cmp_ok $seen->{download}{bytes} // 0, '>', 1000, "  ($seen->{download}{bytes} bytes)";
    is $seen->{download}{ftyp}, 'ftyp', '  an MP4';

    my $reloaded = $seen->{reloaded} // {};
    is $reloaded->{wallet}, $wallet, 'a reload keeps the key and the wallet';
    is $reloaded->{points}, '3', '  shows its points';
    is scalar @{ $reloaded->{videos} // [] }, 1, '  and its video';

    is $seen->{scriptError}, 'script is longer than 20000 bytes',
        "the API's error shows on the page";

    my $skewed = $seen->{skewed} // {};
    is $skewed->{wallet}, $wallet, 'a page an hour behind: the same wallet';
    is $skewed->{points}, '3', '  its points, signed on the server\'s time';
    ok $skewed->{libraryShown}, '  and its videos';

    # no secure context: nothing to sign with; the wallet is typed in
    my $in = $seen->{insecure} // {};
    is $in->{kind}, 'none', 'where the page cannot sign';
    like $in->{signer}, qr/^Not signed: This page cannot sign here/,
        '  it says so';
    ok !$in->{readOnly}, '  the wallet can be typed in';
    like $in->{wallet}, qr/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, '  (an example)';
    like $in->{points}, $auth eq 'off' ? qr/^(?:\d+|0 \(a new wallet.*)$/
                                       : qr/^unavailable: Missing signature$/,
        "  its points: $in->{points}";
    my @insecure = grep { $_->{phase} eq 'insecure' } @{ $seen->{requests} };
    ok @insecure && !grep({ ($_->{why} // '') ne 'unsigned' } @insecure),
        '  its requests go unsigned';

    # a wallet extension that refuses to connect
    my $rf = $seen->{refused} // {};
    is $rf->{kind}, 'browser', 'an extension that will not connect: the'
                               . ' browser key signs';
    is $rf->{wallet}, $wallet, '  the same wallet as before';
    like $rf->{signer}, qr/The wallet extension did not connect \(User rejected/,
        '  saying why';
    ok $rf->{connectShown}, '  with a button to connect it';

    # a Solana wallet extension signs instead
    my $eb = $seen->{extensionBefore} // {};
    my $ext = $eb->{wallet} // '';
    is $eb->{kind}, 'extension', 'with a wallet extension, it signs';
    like $eb->{signer}, qr/^Wallet extension \(Solana\): it signs/,
        '  and says so';
    ok !$eb->{connectShown}, '  connected';
    like $ext, qr/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, "  for its wallet: $ext";
    isnt $ext, $wallet, '  not the browser key';
    like $eb->{points}, qr/^0 \(a new wallet/, '  a new wallet';
    like $seen->{extensionJob}{status} // '', qr/completed/,
        '  whose job completed';
    my $ea = $seen->{extensionAfter} // {};
    is $ea->{points}, '3', '  its points';
    is_deeply [ map { $_->{title} } @{ $ea->{videos} // [] } ],
        ['Extension test'], '  its library';
    is $pg->psql("SELECT title FROM video_jobs WHERE wallet_address = '$ext'"),
        'Extension test', '  the job is the extension wallet\'s';

    # every signed request, judged from the wire
    my @req = @{ $seen->{requests} // [] };
    my %by;
    for (@req) {
        my $e = $_->{method} eq 'POST' ? 'generate'
              : $_->{target} =~ m{/points$} ? 'points' : 'videos';
        $by{$e}++;
    }
    note "signed requests: generate $by{generate}, points $by{points},"
         . " videos $by{videos}";
    cmp_ok $by{generate} // 0, '>=', 3, 'POST /api/generate was sent';
    cmp_ok $by{points} // 0, '>=', 5, 'GET /api/users/:wallet/points was sent';
    cmp_ok $by{videos} // 0, '>=', 5, 'GET /api/wallet/:wallet/videos was sent';
    my @checked = grep { $_->{phase} !~ /^(?:unsigned|insecure)$/ } @req;
    is_deeply [ map { "$_->{method} $_->{target} ($_->{phase}): $_->{why}" }
                grep { !$_->{verified} } @checked ], [],
        'every one carries an ed25519 signature by its wallet over the'
        . ' message rebuilt from method, path, wallet, timestamp, body';
    ok !grep({ !$_->{tamperedRejected} } @checked),
        '  (which one changed byte breaks)';
    is_deeply [ map { "$_->{target}: $_->{wallet}" } grep {
                    ($_->{wallet} // '') ne ($_->{phase} eq 'extension' ? $ext
                                                                : $wallet)
                } @checked ], [],
        '  signed for the wallet the page shows';
    is_deeply [ map { "$_->{target} ($_->{phase}): $_->{skew}" } grep {
                    $_->{phase} ne 'skew' && abs($_->{skew} // 99) > 5
                } @checked ], [],
        '  with a timestamp of the time it was sent';
    is scalar(grep { $_->{phase} eq 'extension' } @req),
        scalar @{ $seen->{extensionSigned}{messages} // [] },
        'the extension signed each of its requests';
    ok !grep({ !/^WeaveIt request\n/ }
             @{ $seen->{extensionSigned}{messages} // [] }),
        '  a WeaveIt request message';
    is $seen->{extensionSigned}{connects}, 1, '  connected once';

    # the 401 answers: only those provoked, and a GET the server saw in
    # the same second from another page (the same message, the same
    # signature), which the page signs again
    is_deeply [ map { "$_->{method} $_->{target} ($_->{phase}): $_->{error}" }
                grep { ($_->{status} // 0) == 401
                       && $_->{phase} !~ /^(?:reload|skew|unsigned|insecure)$/
                       && !($_->{method} eq 'GET'
                            && $_->{error} eq 'Signature already used')
                } @req ],
        [], 'no request refused but those meant to be';
    my @again;
    for my $i (0 .. $#req) {
        my $q = $req[$i];
        next unless ($q->{status} // 0) == 401
                    && ($q->{error} // '') eq 'Signature already used';
        push @again, "$q->{target} ($q->{phase})" unless grep {
            $_->{target} eq $q->{target} && $_->{phase} eq $q->{phase}
            && ($_->{timestamp} // 0) > $q->{timestamp}
            && ($_->{status} // 0) =~ /^(?:200|404)$/
        } @req[$i + 1 .. $#req];
    }
    is_deeply \@again, [], 'a GET refused as already used is signed again';
    my @expired = grep { $_->{phase} eq 'skew' } @req;
    ok grep({ ($_->{status} // 0) == 401
              && ($_->{error} // '') eq 'Signature expired'
              && ($_->{skew} // 0) < -3500 } @expired),
        'the page an hour behind was refused: Signature expired';
    ok grep({ $_->{target} =~ m{/points$} && ($_->{status} // 0) == 200
              && abs($_->{skew} // 99) <= 5 } @expired),
        '  and signed again on the server\'s time';

    if ($auth eq 'off') {
        my @used = grep { $_->{phase} eq 'reload' && $_->{target} =~ /videos/ }
                   @req;
        is_deeply [ map { [ $_->{status}, $_->{error} ] } @used ],
            [ [ 401, 'Signature already used' ], [ 200, undef ] ],
            '  (after a reload, when the server says so)';
    } else {
        is $seen->{unsignedError}, 'Missing signature',
            'a request stripped of its signature: the refusal shows';
    }

    $ngx->stop;
    unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
}

subtest 'weaveit_auth off: the page signs, the server ignores it' => sub {
    demo('off');
};

subtest 'weaveit_auth signature: the server checks the signatures' => sub {
    my ($ok, $out) = WeaveIt::Nginx->test_config(pg => $pg,
        main => thread_pool(), http => "$HTTP weaveit_auth signature;",
        server => $SERVER);
    plan skip_all => 'needs the module\'s weaveit_auth (the auth branch)'
        if !$ok && $out =~ /unknown directive "weaveit_auth"/;
    demo('signature');
};

done_testing;
