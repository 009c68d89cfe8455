#!/usr/bin/perl
# espeak-ng speech: validation and word timings (t/unit/test_tts.c)
exec './build/unit/test_tts' or die "run make core first: $!";
