// Drives headless Chromium through the demo page: submit the form, wait
// for the job, and let the video load and play.  Prints one JSON object of
// what it saw; t/demo-page.t judges it.
//
//   node t/browser/demo-page.js PAGE_URL USER_DATA_DIR SCREENSHOT
'use strict';

const { launch } = require('./chromium');

const [pageUrl, userDataDir, screenshot] = process.argv.slice(2);

async function main() {
    const out = {};
    const context = await launch(userDataDir);

    try {
        const page = context.pages()[0] || await context.newPage();
        await page.goto(pageUrl);
        out.title = await page.title();

        await page.fill('#script', 'Hello from the demo page.\n'
                                   + '    indented();\nThe end.');
        await page.fill('#title', 'Demo page test');
        await page.click('#generate');

        await page.waitForFunction(() => {
            const v = document.getElementById('video');
            return (!v.hidden && v.readyState >= 1)
                   || !document.getElementById('error').hidden;
        }, null, { timeout: 60000 });

        Object.assign(out, await page.evaluate(() => ({
            status: document.getElementById('status').textContent,
            progress: document.getElementById('progress').value,
            error: document.getElementById('error').hidden
                   ? null : document.getElementById('error').textContent,
            src: document.getElementById('video').getAttribute('src'),
            duration: document.getElementById('video').duration,
        })));

        if (!out.error) {
            out.played = await page.evaluate(() => new Promise((resolve) => {
                const v = document.getElementById('video');
                const timer = setTimeout(() => resolve(v.currentTime), 20000);
                v.play().catch(() => {});
                const check = () => {
                    if (v.currentTime > 0.5) {
                        clearTimeout(timer);
                        resolve(v.currentTime);
                    } else {
                        setTimeout(check, 50);
                    }
                };
                check();
            }));
        }

        // a bad wallet: the API's error reaches the page
        await page.fill('#wallet', 'not-a-wallet');
        await page.click('#generate');
        await page.waitForFunction(
            () => !document.getElementById('error').hidden, null,
            { timeout: 20000 });
        out.badWalletError = await page.evaluate(
            () => document.getElementById('error').textContent);

        await page.screenshot({ path: screenshot, fullPage: true });
    } finally {
        await context.close();
    }

    return out;
}

main().then((out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
}, (e) => {
    process.stdout.write(JSON.stringify({ fatal: String(e) }) + '\n');
    process.exitCode = 1;
});
