// Drives headless Chromium through the demo page: it makes its wallet key,
// signs, submits the form, follows the job, plays the video, lists the
// wallet's points and videos; then a reload keeps the key, an API error
// shows, a page whose clock is an hour off still signs on time, a page
// that cannot sign (no secure context) sends unsigned requests for a typed
// wallet, a (mock) Solana wallet extension that refuses to connect leaves
// the browser key in charge, and one that connects signs instead of it.
// Every request to a signed endpoint is checked in Node (./signature.js).
// Prints one JSON object of what it saw; t/demo-page.t judges it.
//
//   node t/browser/demo-page.js PAGE_URL USER_DATA_DIR OUT_DIR AUTH
//
// OUT_DIR receives demo.png (after the job) and the downloaded video; AUTH
// is the server's weaveit_auth: "off" (the server ignores signatures, so
// the 401 answers the page must handle are faked with page.route) or
// "signature" (the server's own 401s).
'use strict';

const fs = require('fs');
const path = require('path');
const { launch } = require('./chromium');
const signature = require('./signature');

const [pageUrl, userDataDir, outDir, auth] = process.argv.slice(2);
const SIGNED = /\/api\/(generate|users\/[^/]+\/points|wallet\/[^/]+\/videos)(\?|$)/;
const ELLIPSIS = '\u2026';

let phase = 'start';
const requests = [];        // every request to a signed endpoint
const pending = [];

function watch(context) {
    const byRequest = new Map();

    context.on('request', (req) => {
        if (!SIGNED.test(new URL(req.url()).pathname)) {
            return;
        }
        const rec = { phase, method: req.method(), url: req.url(),
                      body: req.postDataBuffer(), sentAt: Date.now() / 1000 };
        requests.push(rec);
        byRequest.set(req, rec);
        pending.push(req.allHeaders().then((h) => { rec.headers = h; }));
    });

    context.on('requestfinished', (req) => {
        const rec = byRequest.get(req);
        if (!rec) {
            return;
        }
        pending.push((async () => {
            const res = await req.response();
            rec.status = res ? res.status() : null;
            try {
                rec.error = (await res.json()).error;
            } catch (e) {
                rec.error = undefined;
            }
        })());
    });
}

// The page has its wallet and has asked for its points and videos.
async function ready(page) {
    await page.waitForFunction((dots) => {
        const $ = (id) => document.getElementById(id);
        return !$('generate').disabled && $('wallet').value !== ''
               && $('points').textContent !== dots
               && (!$('library').hidden
                   || $('library-status').textContent !== dots);
    }, ELLIPSIS, { timeout: 30000 });
}

function account(page) {
    return page.evaluate(() => {
        const $ = (id) => document.getElementById(id);
        const rows = Array.from($('library').tBodies[0].rows);
        return {
            wallet: $('wallet').value,
            readOnly: $('wallet').readOnly,
            kind: $('signer').dataset.kind,
            connectShown: !$('connect').hidden,
            signer: $('signer').textContent,
            points: $('points').textContent,
            libraryShown: !$('library').hidden,
            libraryStatus: $('library-status').hidden
                           ? null : $('library-status').textContent,
            caption: $('library-caption').textContent,
            videos: rows.map((tr) => ({
                title: tr.cells[0].textContent,
                length: tr.cells[1].textContent,
                made: tr.cells[2].textContent,
                play: tr.querySelector('button')
                      && tr.querySelector('button').getAttribute('aria-label'),
                href: tr.querySelector('a') && tr.querySelector('a')
                      .getAttribute('href'),
                download: tr.querySelector('a')
                          && tr.querySelector('a').hasAttribute('download'),
            })),
        };
    });
}

// Submits the form, with a voice chosen in the select if one is given, and
// waits for the video to load or an error to show.
async function generate(page, script, title, voice) {
    await page.fill('#script', script);
    await page.fill('#title', title);
    if (voice) {
        await page.waitForSelector('#voice-field:not([hidden])',
                                   { timeout: 10000 });
        await page.selectOption('#voice', voice);
    }
    await page.click('#generate');
    await page.waitForFunction(() => {
        const v = document.getElementById('video');
        return (!v.hidden && v.readyState >= 1)
               || !document.getElementById('error').hidden;
    }, null, { timeout: 90000 });
    return page.evaluate(() => {
        const $ = (id) => document.getElementById(id);
        return {
            status: $('status').textContent,
            progress: $('progress').value,
            error: $('error').hidden ? null : $('error').textContent,
            src: $('video').getAttribute('src'),
            duration: $('video').duration,
            voiceOptions: $('voice').options.length,
            voiceFirst: $('voice').options.length
                        ? $('voice').options[0].textContent : null,
        };
    });
}

// Plays the page's <video>; resolves to its time after at most 20 s.
function played(page) {
    return page.evaluate(() => new Promise((resolve) => {
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

async function libraryLists(page, n) {
    await page.waitForFunction(
        (k) => document.getElementById('library').tBodies[0].rows.length >= k,
        n, { timeout: 30000 });
}

async function errorShown(page, script) {
    await page.fill('#script', script);
    await page.click('#generate');
    await page.waitForFunction(
        () => !document.getElementById('error').hidden, null,
        { timeout: 30000 });
    return page.evaluate(() => document.getElementById('error').textContent);
}

// A Solana wallet extension as the page sees one (window.solana), with an
// ed25519 key of its own; it counts what it is asked to sign.
function mockWalletExtension(refuse) {
    const A = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    const b58 = (bytes) => {
        let n = 0n;
        for (const b of bytes) {
            n = n * 256n + BigInt(b);
        }
        let s = '';
        for (; n > 0n; n /= 58n) {
            s = A[Number(n % 58n)] + s;
        }
        for (let i = 0; i < bytes.length && bytes[i] === 0; i++) {
            s = '1' + s;
        }
        return s;
    };
    const key = crypto.subtle.generateKey({ name: 'Ed25519' }, false,
                                          ['sign', 'verify'])
        .then(async (pair) => ({ pair, raw: new Uint8Array(
            await crypto.subtle.exportKey('raw', pair.publicKey)) }));
    const w = {
        publicKey: null,
        connects: 0,
        messages: [],
        async connect() {
            const k = await key;
            if (refuse) {
                throw new Error('User rejected the request.');
            }
            w.connects++;
            w.publicKey = { toBase58: () => b58(k.raw),
                            toBytes: () => k.raw.slice() };
            return { publicKey: w.publicKey };
        },
        async signMessage(bytes) {
            const k = await key;
            if (!(bytes instanceof Uint8Array)) {
                throw new Error('signMessage takes a Uint8Array');
            }
            w.messages.push(new TextDecoder().decode(bytes));
            return { signature: new Uint8Array(await crypto.subtle.sign(
                         { name: 'Ed25519' }, k.pair.privateKey, bytes)),
                     publicKey: w.publicKey };
        },
    };
    window.solana = w;
}

// Answers a request's first call with a 401 the way a server with
// weaveit_auth signature would, then lets the calls through.
async function refuseOnce(page, pattern, error) {
    let refused = false;
    await page.route(pattern, (route) => {
        if (refused) {
            return route.continue();
        }
        refused = true;
        return route.fulfill({
            status: 401,
            headers: { 'Content-Type': 'application/json; charset=utf-8',
                       'WWW-Authenticate': 'WeaveIt-Signature',
                       Date: new Date().toUTCString() },
            body: JSON.stringify({ error }),
        });
    });
}

async function main() {
    const out = {};
    const context = await launch(userDataDir);
    watch(context);

    try {
        const page = context.pages()[0] || await context.newPage();

        // --- the page makes its key and shows the wallet
        phase = 'main';
        await page.goto(pageUrl);
        out.title = await page.title();
        await ready(page);
        out.before = await account(page);
        out.stored = await page.evaluate(
            () => JSON.parse(localStorage.getItem('weaveit.walletKey')));
        out.stored = out.stored && { kty: out.stored.kty,
                                     crv: out.stored.crv,
                                     hasPrivate: !!out.stored.d,
                                     x: out.stored.x };

        // the page's base58 against Node's
        const vectors = [[], [0], [0, 0, 1], [255], Array(32).fill(0),
                         Array(32).fill(255), [0, 0, 0, 58, 57, 1]];
        for (let i = 0; i < 20; i++) {
            const b = [...require('crypto').randomBytes(i % 2 ? 32 : 64)];
            b[0] = i % 3 ? b[0] : 0;
            vectors.push(b);
        }
        const mine = await page.evaluate(
            (vs) => vs.map((v) => base58(new Uint8Array(v))), vectors);
        out.base58Mismatches = vectors.filter(
            (v, i) => signature.base58Encode(Buffer.from(v)) !== mine[i])
            .length;

        // --- a job from the form
        Object.assign(out, await generate(page, 'Hello from the demo page.\n'
            + '    indented();\nThe end.', 'Demo page test', 'en-US'));
        if (!out.error) {
            out.played = await played(page);
        }
        await libraryLists(page, 1);
        await page.waitForFunction(
            (p) => document.getElementById('points').textContent !== p,
            out.before.points, { timeout: 10000 }).catch(() => {});
        out.after = await account(page);
        await page.screenshot({ path: path.join(outDir, 'demo.png'),
                                fullPage: true });

        // the library's buttons: play it here, download it
        phase = 'library';
        await page.evaluate(() => {
            document.getElementById('video').pause();
        });
        await page.click('#library tbody tr:first-child button');
        await page.waitForFunction(
            () => document.getElementById('video').readyState >= 1, null,
            { timeout: 20000 });
        out.librarySrc = await page.evaluate(
            () => document.getElementById('video').getAttribute('src'));
        out.libraryPlayed = await played(page);
        const [download] = await Promise.all([
            page.waitForEvent('download', { timeout: 20000 }),
            page.click('#library tbody tr:first-child a'),
        ]);
        const saved = path.join(outDir, 'download.mp4');
        await download.saveAs(saved);
        out.download = { name: download.suggestedFilename(),
                         bytes: fs.statSync(saved).size,
                         ftyp: fs.readFileSync(saved).subarray(4, 8)
                               .toString('latin1') };

        // --- a reload keeps the key; a refused GET ("already used", as
        // when a reload repeats a request within its second) is retried
        phase = 'reload';
        if (auth === 'off') {
            await refuseOnce(page, /\/api\/wallet\/[^/]+\/videos\?/,
                             'Signature already used');
        }
        await page.reload();
        await ready(page);
        out.reloaded = await account(page);
        await page.unrouteAll({ behavior: 'wait' });

        // --- the API's errors reach the page
        phase = 'error';
        out.scriptError = await errorShown(page, 'a'.repeat(20001));
        if (auth === 'signature') {
            phase = 'unsigned';
            await page.route(/\/api\/generate$/, (route) => {
                const h = route.request().headers();
                delete h['x-weaveit-signature'];
                delete h['x-weaveit-timestamp'];
                return route.continue({ headers: h });
            });
            out.unsignedError = await errorShown(page, 'Unsigned.');
            await page.unrouteAll({ behavior: 'wait' });
        }

        // --- a page whose clock is an hour behind the server's: its
        // first signature is "expired"; it signs again on the server's time
        phase = 'skew';
        const skewed = await context.newPage();
        await skewed.addInitScript(() => {
            const now = Date.now;
            Date.now = () => now() - 3600 * 1000;
        });
        if (auth === 'off') {
            await refuseOnce(skewed, /\/api\/users\/[^/]+\/points$/,
                             'Signature expired');
        }
        await skewed.goto(pageUrl);
        await ready(skewed);
        out.skewed = await account(skewed);
        await skewed.close();

        // --- not a secure context (plain http to a host not this one):
        // no WebCrypto, so the wallet is typed in and nothing is signed
        phase = 'insecure';
        const insecure = await context.newPage();
        await insecure.addInitScript(() => {
            Object.defineProperty(window, 'isSecureContext', { value: false });
        });
        await insecure.goto(pageUrl);
        await ready(insecure);
        out.insecure = await account(insecure);
        await insecure.close();

        // --- a wallet extension that will not connect: the browser key
        phase = 'refused';
        const refused = await context.newPage();
        await refused.addInitScript(mockWalletExtension, true);
        await refused.goto(pageUrl);
        await ready(refused);
        out.refused = await account(refused);
        await refused.close();

        // --- a wallet extension signs instead of the browser key
        phase = 'extension';
        const ext = await context.newPage();
        await ext.addInitScript(mockWalletExtension, false);
        await ext.goto(pageUrl);
        await ready(ext);
        out.extensionBefore = await account(ext);
        out.extensionJob = await generate(ext, 'Signed by the extension.',
                                          'Extension test');
        await libraryLists(ext, 1);
        out.extensionAfter = await account(ext);
        out.extensionSigned = await ext.evaluate(() => ({
            connects: window.solana.connects,
            messages: window.solana.messages,
        }));
        await ext.close();
    } finally {
        await Promise.allSettled(pending);
        await context.close();
    }

    await Promise.allSettled(pending);
    out.requests = requests.map((rec) => {
        const seen = signature.check({ method: rec.method, url: rec.url,
                                       headers: rec.headers || {},
                                       body: rec.body }, rec.sentAt);
        return { phase: rec.phase, method: rec.method, status: rec.status,
                 error: rec.error, ...seen };
    });
    return out;
}

main().then((out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
}, (e) => {
    process.stdout.write(JSON.stringify({ fatal: String(e.stack || e),
        requests: requests.map((r) => ({ ...r, body: undefined })) }) + '\n');
    process.exitCode = 1;
});
