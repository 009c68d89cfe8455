# The layout DESIGN.md promises, read off the built objects with nm: the
# files of src/ call each other without a cycle, the core (weaveit_*)
# knows nothing of nginx, and the nginx glue never calls espeak-ng,
# FreeType or FFmpeg itself: the module does not even link them, since
# generation runs in the sandboxed generator process.
use strict;
use warnings;
use Test::More;

# the objects the module is linked from now (older builds may have left
# others beside them), in the build under test
my $build = $ENV{WEAVEIT_BUILD} // 'build';
my $objs = "$build/nginx/addon/src";
open my $mk, '<', "$build/nginx/Makefile"
    or plan skip_all => "no $build/nginx/Makefile: run make first";
my @objs = sort keys %{ { map { m{(\S*/addon/src/[^/\s]+\.o):} ? ($1 => 1) : () }
                          <$mk> } };
close $mk;
plan skip_all => "no objects in $objs: run make first" unless @objs;

my (%defines, %needs);

for my $o (@objs) {
    my ($file) = $o =~ m{([^/]+)\.o$};
    for (`nm $o`) {
        if (/^\s+U (\S+)$/) {
            push @{ $needs{$file} }, $1;
        } elsif (/^[0-9a-f]+ [TDBR] (\S+)$/) {
            $defines{$1} = $file;
        }
    }
}

my %calls;
for my $file (keys %needs) {
    for my $sym (@{ $needs{$file} }) {
        my $to = $defines{$sym};
        $calls{$file}{$to} = $sym if defined $to && $to ne $file;
    }
}

# depth-first search for a cycle; returns its path or nothing

sub cycle {
    my (%state, @path);
    my $visit;
    $visit = sub {
        my ($f) = @_;
        $state{$f} = 1;
        push @path, $f;
        for my $to (sort keys %{ $calls{$f} // {} }) {
            if (($state{$to} // 0) == 1) {
                return (@path[(grep { $path[$_] eq $to } 0 .. $#path)[0]
                              .. $#path], $to);
            }
            if (!$state{$to}) {
                my @c = $visit->($to);
                return @c if @c;
            }
        }
        pop @path;
        $state{$f} = 2;
        return;
    };
    for my $f (sort keys %needs) {
        next if $state{$f};
        my @c = $visit->($f);
        return @c if @c;
    }
    return;
}

my $edges = 0;
$edges += keys %{ $calls{$_} } for keys %calls;
ok $edges >= 5, "the files of src/ call each other ($edges ways)"
    or diag explain \%calls;
ok $calls{ngx_http_weaveit_api}{ngx_http_weaveit_job},
    'api calls job (the edge the old cycle went through)';

my @cycle = cycle();
ok !@cycle, 'no file of src/ calls back into a file that calls it'
    or diag join ' -> ', @cycle;

for my $file (sort keys %needs) {
    my @bad;
    if ($file =~ /^weaveit_/) {
        @bad = grep { /^ngx_/ } @{ $needs{$file} };
        ok !@bad, "$file (core) uses no nginx symbol" or diag "@bad";
    } else {
        @bad = grep { /^(espeak|FT_|FTC_|hb_|av|swr_|sws_)/ }
               @{ $needs{$file} };
        ok !@bad, "$file (glue) calls no espeak-ng, FreeType or FFmpeg"
            or diag "@bad";
    }
}

for my $file (qw(ngx_http_weaveit_job ngx_http_weaveit_pg
                 ngx_http_weaveit_rules ngx_http_weaveit_input))
{
    my @up = grep { /^ngx_http_weaveit_(api|video)$/ }
             keys %{ $calls{$file} // {} };
    ok !@up, "$file calls no endpoint file" or diag "@up";
}

my $so = "$build/nginx/ngx_http_weaveit_module.so";
my @needed = map { /NEEDED.*\[(.*)\]/ ? $1 : () } `readelf -d $so`;
ok @needed, "$so links shared libraries (@needed)";
my @parsers = grep { /^lib(av|sw|espeak|freetype|harfbuzz|seccomp)/ }
              @needed;
ok !@parsers, 'but no parser of client text, FFmpeg or the sandbox'
    or diag "@parsers";
is_deeply [ sort grep { /^weaveit_/ } map { m{([^/]+)\.o$} } @objs ],
          ['weaveit_params', 'weaveit_utf8'],
    'of the core the module holds the parameters and UTF-8 alone';

done_testing;
