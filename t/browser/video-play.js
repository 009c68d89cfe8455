// Drives headless Chromium through a <video> served by nginx: metadata,
// a seek to the middle, playback.  Prints one JSON object of what it saw;
// t/video-browser.t judges it.
//
//   node t/browser/video-play.js PAGE_URL USER_DATA_DIR
'use strict';

const { launch } = require('./chromium');

const [pageUrl, userDataDir] = process.argv.slice(2);

async function main() {
    const out = { requests: [] };
    const context = await launch(userDataDir);

    try {
        const page = context.pages()[0] || await context.newPage();

        page.on('response', async (res) => {
            if (!res.url().includes('/api/videos/')) {
                return;
            }
            out.requests.push({
                status: res.status(),
                range: (await res.request().allHeaders()).range || null,
                contentRange: res.headers()['content-range'] || null,
            });
        });

        await page.goto(pageUrl);

        // the page records media events from the start (see its script)
        await page.waitForFunction(() => window.seen.loadedmetadata
                                         || window.seen.error,
                                   null, { timeout: 20000 });
        Object.assign(out, await page.evaluate(() => {
            const v = document.getElementById('v');
            return { error: v.error ? v.error.code + ' ' + v.error.message
                                    : null,
                     duration: v.duration,
                     width: v.videoWidth, height: v.videoHeight };
        }));
        if (out.error) {
            return out;
        }

        out.target = out.duration / 2;
        out.seek = await page.evaluate((target) => new Promise((resolve) => {
            const v = document.getElementById('v');
            const t0 = performance.now();
            const timer = setTimeout(() => resolve({ timedOut: true }), 20000);
            v.addEventListener('seeked', () => {
                clearTimeout(timer);
                resolve({ currentTime: v.currentTime,
                          ms: performance.now() - t0 });
            }, { once: true });
            v.currentTime = target;
        }), out.target);

        out.play = await page.evaluate(() => new Promise((resolve) => {
            const v = document.getElementById('v');
            const from = v.currentTime;
            const timer = setTimeout(() => resolve({ from, to: v.currentTime,
                                                     timedOut: true }), 20000);
            v.play().catch((e) => resolve({ from, rejected: String(e) }));
            const check = () => {
                if (v.currentTime > from + 1) {
                    clearTimeout(timer);
                    resolve({ from, to: v.currentTime, paused: v.paused });
                } else {
                    setTimeout(check, 50);
                }
            };
            check();
        }));

        return out;

    } finally {
        await context.close();
    }
}

main().then((out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
}, (err) => {
    process.stdout.write(JSON.stringify({ fatal: String(err.stack || err) })
                         + '\n');
    process.exitCode = 1;
});
