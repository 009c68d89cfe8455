#!/usr/bin/perl
# espeak-ng speech: validation and word timings (t/unit/test_tts.c)
my $build = $ENV{WEAVEIT_BUILD} // 'build';
exec "$build/unit/test_tts" or die "run make core first: $!";
