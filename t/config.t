# Directive checking: `nginx -t` rejects bad values and names the directive.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use WeaveIt::Test;

my $schema = WeaveIt::Test::root() . '/conf/schema.sql';

my @cases = (
    [ 'weaveit_db_pool max=0;',            qr/invalid parameter "max=0" in "weaveit_db_pool"/ ],
    [ 'weaveit_db_pool max=4 size=3;',     qr/invalid parameter "size=3" in "weaveit_db_pool"/ ],
    [ 'weaveit_db_pool max=x;',            qr/invalid parameter "max=x"/ ],
    [ 'weaveit_db_pool max=4 timeout=0;',  qr/invalid parameter "timeout=0"/ ],
    [ 'weaveit_db_pool max=4 timeout=xs;', qr/invalid parameter "timeout=xs"/ ],
    [ 'weaveit_db_pool timeout=3s;',       qr/"weaveit_db_pool" needs the "max=" parameter/ ],
    [ 'weaveit_db "host=/tmp port=notaport x";', qr/invalid "weaveit_db" value/ ],
    [ 'weaveit_db "postgresql://[bad";',   qr/invalid "weaveit_db" value/ ],
    [ 'weaveit_db "host=a"; weaveit_db "host=b";', qr/"weaveit_db" directive is duplicate/ ],
    [ 'weaveit_db_prepare maybe;',       qr/invalid value "maybe" in "weaveit_db_prepare"/ ],
    [ 'weaveit_video_size 1280;',        qr/invalid value "1280" in "weaveit_video_size"/ ],
    [ 'weaveit_video_size 1281x720;',    qr/invalid value "1281x720" in "weaveit_video_size"/ ],
    [ 'weaveit_video_fps 0;',            qr/"weaveit_video_fps" directive must be between 1 and 60/ ],
    [ 'weaveit_x264_preset warp;',       qr/"weaveit_x264_preset" directive is not an x264 preset/ ],
    [ 'weaveit_max_script 0;',           qr/"weaveit_max_script" directive must be between 1 and 16777216/ ],
    [ 'weaveit_max_script 17m;',         qr/"weaveit_max_script" directive must be between 1 and 16777216/ ],
    [ 'weaveit_max_jobs 0;',             qr/"weaveit_max_jobs" directive must be between 1 and 1024/ ],
    [ 'weaveit_job_attempts 0;',         qr/"weaveit_job_attempts" directive must be at least 1/ ],
    [ 'weaveit_speech_rate 5000;',       qr/"weaveit_speech_rate" directive must be between 80 and 450/ ],
    [ 'weaveit_generate_cost -1;',       qr/weaveit_generate_cost/ ],
    [ 'weaveit_job_interval soon;',      qr/weaveit_job_interval/ ],
    [ 'weaveit_job_interval 0;',         qr/"weaveit_job_interval" directive must be between 10ms and 60s/ ],
    [ 'weaveit_job_interval 2m;',        qr/"weaveit_job_interval" directive must be between 10ms and 60s/ ],
    [ 'weaveit_max_jobs 9223372036854775807;', qr/"weaveit_max_jobs" directive must be between 1 and 1024/ ],
    [ 'weaveit_font /nonexistent.ttf;',  qr/"weaveit_font" "\/nonexistent.ttf" is not readable/,
      'location = /g { weaveit_generate; }' ],
    [ 'weaveit_prose_font /nonexistent.ttf;', qr/"weaveit_prose_font" "\/nonexistent.ttf" is not readable/,
      'location = /g { weaveit_generate; }' ],
    [ 'weaveit_generator /nonexistent;', qr/"weaveit_generator" "\/nonexistent" is not an executable file/,
      'location = /g { weaveit_generate; }' ],
    [ 'weaveit_generator /tmp;', qr/"weaveit_generator" "\/tmp" is not an executable file/,
      'location = /g { weaveit_generate; }' ],
    [ "weaveit_generator $schema;", qr/"weaveit_generator" "\Q$schema\E" is not an executable file/,
      'location = /g { weaveit_generate; }' ],
    [ 'weaveit_generate_memory lots;',   qr/weaveit_generate_memory/ ],
    [ 'weaveit_generate_memory 2t;',     qr/weaveit_generate_memory/ ],
    [ 'weaveit_generate_timeout 0;',     qr/"weaveit_generate_timeout" must be at least 1s/,
      'location = /g { weaveit_generate; }' ],
    [ 'weaveit_max_pending_per_wallet 0;', qr/"weaveit_max_pending_per_wallet" directive must be at least 1/ ],
    [ 'weaveit_max_pending_per_wallet x;', qr/"weaveit_max_pending_per_wallet" directive invalid number/ ],
    [ 'weaveit_auth signature off;',     qr/invalid number of arguments in "weaveit_auth"/ ],
    [ 'weaveit_theme blue;',             qr/invalid value "blue"/ ],
    [ 'weaveit_video_cfr yes;',          qr/invalid value "yes" in "weaveit_video_cfr"/ ],
    [ 'weaveit_auth_window soon;',       qr/"weaveit_auth_window" directive invalid value/ ],
    [ 'weaveit_auth_window 0;',          qr/"weaveit_auth_window" must be at least 1s/ ],
);

for my $c (@cases) {
    my ($ok, $out) = WeaveIt::Nginx->test_config(http => $c->[0],
                                                 server => $c->[2]);
    ok !$ok, "rejected: $c->[0]";
    like $out, $c->[1], '  with a message naming the directive';
}

my ($ok, $out) = WeaveIt::Nginx->test_config(
    http => 'weaveit_db "postgresql://u@127.0.0.1:5/db"; '
          . 'weaveit_db_pool max=3 timeout=250ms;',
    server => 'location = /h { weaveit_health; }');
ok $ok, 'a valid configuration passes' or diag $out;

($ok, $out) = WeaveIt::Nginx->test_config(
    server => 'location = /h { weaveit_health; }');
ok $ok, 'weaveit_db may be omitted (libpq defaults)' or diag $out;

# nginx's enum slot names the value and the line, not the directive
($ok, $out) = WeaveIt::Nginx->test_config(http => 'weaveit_auth on;');
ok !$ok, 'rejected: weaveit_auth on;';
like $out, qr/invalid value "on" in \S+nginx\.conf:\d+/, '  naming the value';

($ok, $out) = WeaveIt::Nginx->test_config(
    http => 'weaveit_auth signature; weaveit_auth_window 2m;',
    server => 'location = /g { weaveit_generate; weaveit_auth off; }'
            . 'location = /p { weaveit_points $arg_w;'
            . ' weaveit_auth_window 30s; }');
ok $ok, 'weaveit_auth and weaveit_auth_window at every level' or diag $out;

($ok, $out) = WeaveIt::Nginx->test_config(
    server => 'location = /h { weaveit_health on; }');
ok !$ok, 'weaveit_health takes no argument';

($ok, $out) = WeaveIt::Nginx->test_config(
    server => 'location = /a { weaveit_points_award on; }');
ok !$ok, 'weaveit_points_award takes no argument';
like $out, qr/invalid number of arguments in "weaveit_points_award"/,
    '  saying so';

($ok, $out) = WeaveIt::Nginx->test_config(server => 'weaveit_points_award;');
like $out, qr/"weaveit_points_award" directive is not allowed here/,
    'weaveit_points_award belongs in a location';

($ok, $out) = WeaveIt::Nginx->test_config(
    http => 'weaveit_max_pending_per_wallet 2;',
    server => 'location = /api/admin/points { allow 127.0.0.1; deny all;'
            . ' weaveit_points_award; }'
            . 'location = /g { weaveit_generate;'
            . ' weaveit_max_pending_per_wallet 10; }');
ok $ok, 'weaveit_points_award and weaveit_max_pending_per_wallet' or diag $out;

done_testing;
