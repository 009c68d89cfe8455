#!/usr/bin/perl
# layout, painting and scroll sync (t/unit/test_render.c)
exec './build/unit/test_render' or die "run make core first: $!";
