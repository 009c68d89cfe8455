// Debian's Chromium, headless, through playwright-core (make test installs
// it into build/browser).  The flags keep it off this machine's closed
// network and let media play without a user gesture.
'use strict';

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'build',
    'browser', 'node_modules', 'playwright-core'));

exports.launch = (userDataDir) => chromium.launchPersistentContext(
    userDataDir, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               '--autoplay-policy=no-user-gesture-required'],
        timeout: 30000,
    });
