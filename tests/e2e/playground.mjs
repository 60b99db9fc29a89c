// Drives the Microsoft 365 Agents Playground in headless Chromium through the reference
// story: who knows Yvonne McKay -> List view -> Get Introduced -> edit -> Send; the search
// message extension (search, insert, send, Details on the inserted card); a Dynamics 365
// lead link unfurled and sent; opt out.
//
// Usage: node tests/e2e/playground.mjs --url http://localhost:56150 --shots DIR --out FILE
//   --lead-url URL [--chromium /usr/bin/chromium] [--timeout 20000]
// Writes FILE (JSON): the text of the chat's cards after each step, for the test to check.
// Fails (exit 1) with a message naming the step that did not happen.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    shots: { type: 'string' },
    out: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    timeout: { type: 'string', default: '20000' },
    'lead-url': { type: 'string' },
    note: {
      type: 'string',
      default:
        'Hi Tricia, could you introduce me to Yvonne McKay at Fourth Coffee? ' +
        'I would like to show her our new espresso machines. Thanks, Blaine',
    },
  },
});
if (!opts.url || !opts.shots || !opts.out || !opts['lead-url']) {
  console.error('usage: playground.mjs --url URL --shots DIR --out FILE --lead-url URL');
  process.exit(2);
}
const TIMEOUT = Number(opts.timeout);
mkdirSync(opts.shots, { recursive: true });

const result = { steps: {}, chromium: opts.chromium };
let step = 'start';
const profile = mkdtempSync(join(tmpdir(), 'whoknows-e2e-chromium-'));
let context;

/** The chat's cards, by what they say. */
const cards = (page) => page.locator('.ac-adaptiveCard');
const card = (page, text) => cards(page).filter({ hasText: text }).last();

async function cardTexts(page) {
  return cards(page).evaluateAll((els) => els.map((e) => e.innerText));
}

// The Playground (0.2.28) renders a message's card again when the pointer enters or leaves
// the message, which resets what was typed into the card's inputs. So the pointer stays
// on the card being worked on: ``rest`` puts it on the card's corner, away from buttons.
const rest = (target) => target.hover({ position: { x: 2, y: 2 } });

async function record(page, name, shot, target) {
  const texts = await cardTexts(page);
  result.steps[name] = { cards: texts };
  if (shot) {
    if (target) await rest(target);
    await page.screenshot({ path: join(opts.shots, shot) });
    result.steps[name].screenshot = shot;
  }
}

async function say(page, text) {
  const box = page.getByRole('textbox');
  await box.click();
  await box.fill(text);
  await page.locator('button[aria-label="Send Message"]').click();
}

async function click(scope, title) {
  await scope.locator(`button[title="${title}"]`).first().click();
}

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    viewport: { width: 1280, height: 1200 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] ?? (await context.newPage());

  step = 'open the Playground';
  await page.goto(opts.url);
  await page.locator('button[aria-label="Personal Chat"]').click();
  // The log panel takes a third of the window: hide it so that the chat is easy to see.
  const hideLog = page.locator('button[title="Hide log panel"]');
  if (await hideLog.isVisible()) await hideLog.click();

  step = 'welcome card after install';
  await card(page, 'Welcome to Whoknows').waitFor();
  await record(page, 'welcome');

  step = 'who knows Yvonne McKay';
  await say(page, 'who knows Yvonne McKay');
  const summary = card(page, 'Who knows Yvonne McKay');
  await summary.locator('button[title^="List view"]').waitFor();
  await summary.scrollIntoViewIfNeeded();
  await record(page, 'who_knows', 'who-knows.png', summary);
  const before = await cards(page).count();

  step = 'List view';
  await summary.locator('button[title^="List view"]').click();
  const list = card(page, 'Everyone who knows Yvonne McKay');
  await list.waitFor();
  await list.scrollIntoViewIfNeeded();
  await record(page, 'list_view', 'list-view.png', list);
  result.steps.list_view.cardCount = await cards(page).count();

  step = 'Get Introduced';
  await click(list, 'Get Introduced');
  const compose = card(page, 'Ask Tricia Potter for an introduction');
  await compose.waitFor();
  step = 'edit the note';
  await compose.scrollIntoViewIfNeeded();
  await rest(compose);
  const note = compose.locator('textarea, input[type="text"]').first();
  await note.fill(opts.note);
  await record(page, 'compose', 'compose.png', compose);
  result.steps.compose.cardCount = await cards(page).count();
  const typed = await note.inputValue();
  if (typed !== opts.note) throw new Error(`the edited note was lost before Send: ${typed}`);
  step = 'Send';
  await click(compose, 'Send');
  const sent = card(page, 'Request sent');
  await sent.waitFor();
  await compose.waitFor({ state: 'detached' });
  await sent.scrollIntoViewIfNeeded();
  await record(page, 'sent', 'sent.png', sent);
  result.steps.sent.cardCount = await cards(page).count();

  // The message extension menu sits by the compose box ("Trigger Message Extension App").
  const extensionMenu = async (item) => {
    await page.locator('button[aria-label="Trigger Message Extension App"]').click();
    await page.getByText(item, { exact: true }).click();
  };

  step = 'search extension';
  await extensionMenu('Search Command');
  await page.getByPlaceholder('Enter a search term').fill('Yvonne McKay');
  const hit = page.getByText('Tricia Potter knows Yvonne well').first();
  await hit.waitFor();
  await page.screenshot({ path: join(opts.shots, 'search-extension.png') });
  result.steps.search = { results: await hit.locator('xpath=..').innerText() };
  step = 'insert and send the search result';
  const beforeInsert = await cards(page).count();
  await hit.click();
  await page.locator('button[aria-label="Send Message"]').click();
  await cards(page).nth(beforeInsert).waitFor();
  const inserted = cards(page).nth(beforeInsert);
  await inserted.scrollIntoViewIfNeeded();
  // What everyone in the chat sees names nobody; a client that does not refresh the card
  // for this viewer offers Show me, which asks the bot for the viewer's own card.
  step = 'Show me on the inserted card';
  const showMe = inserted.locator('button[title="Show me"]');
  const insertedDetails0 = inserted.locator('button[title="Details"]');
  await showMe.or(insertedDetails0).first().waitFor();
  result.steps.search_inserted_base = { text: await inserted.innerText() };
  if (await showMe.isVisible()) await showMe.click();
  await insertedDetails0.first().waitFor();
  await record(page, 'search_inserted', 'search-inserted.png', inserted);
  step = 'Details on the inserted card';
  await inserted.locator('button[title="Details"]').first().click();
  const insertedDetails = cards(page)
    .filter({ hasText: 'Contact with Yvonne McKay' })
    .filter({ hasText: 'Back to summary' })
    .last();
  await insertedDetails.waitFor();
  await record(page, 'inserted_details');
  result.steps.inserted_details.cardCount = await cards(page).count();

  step = 'link unfurling';
  const beforeUnfurl = await cards(page).count();
  await extensionMenu('Link Unfurling');
  await page.getByRole('dialog').locator('input').first().fill(opts['lead-url']);
  const unfurled = page.getByRole('dialog').locator('.ac-adaptiveCard');
  await unfurled.filter({ hasText: 'Who knows this lead?' }).waitFor();
  await page.screenshot({ path: join(opts.shots, 'unfurl.png') });
  result.steps.unfurl = { cards: await unfurled.evaluateAll((els) => els.map((e) => e.innerText)) };
  step = 'send the unfurled card';
  await page.getByRole('button', { name: 'Send to Conversation' }).click();
  await cards(page).nth(beforeUnfurl).waitFor();
  await record(page, 'unfurl_sent');
  // Give the bot the moment it would need to (wrongly) answer the inserted cards.
  await page.waitForTimeout(1500);
  result.steps.unfurl_sent.cardCount = await cards(page).count();

  step = 'opt out';
  await say(page, 'opt out');
  const confirm = card(page, 'Opt out of Whoknows?');
  await confirm.waitFor();
  await record(page, 'opt_out_prompt');
  step = 'confirm opt-out';
  await click(confirm, 'Opt out and delete');
  const done = card(page, 'You have opted out');
  await done.waitFor();
  await done.scrollIntoViewIfNeeded();
  await record(page, 'opted_out', 'opt-out.png', done);
  result.steps.opted_out.cardCount = await cards(page).count();
  result.countBeforeActions = before;
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.failedStep = step;
  result.error = String(err && err.stack ? err.stack : err);
  try {
    const page = context?.pages()[0];
    if (page) {
      await page.screenshot({ path: join(opts.shots, 'failure.png') });
      result.steps.failure = { cards: await cardTexts(page) };
    }
  } catch {
    // the browser is gone: the error above says why
  }
} finally {
  writeFileSync(opts.out, JSON.stringify(result, null, 2));
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
if (!result.ok) {
  console.error(`e2e failed at step "${result.failedStep}": ${result.error}`);
  process.exit(1);
}
console.log('e2e ok');
