// POST /v1/audio/speech through the official openai Node SDK (tests/audio/test_speech_node.py runs it).
//
//   OPENAI_BASE_URL=http://host/v1 OPENAI_API_KEY=... node speech.mjs MODEL VOICE FORMAT INPUT OUT_PATH
//
// Writes the audio to OUT_PATH and prints one JSON line: {"content_type": ..., "bytes": n}.
// On an API error prints {"error": {"status": ..., "message": ...}} and exits 1.
import { writeFile } from "node:fs/promises";
import OpenAI from "openai";

const [model, voice, responseFormat, input, outPath] = process.argv.slice(2);
if (outPath === undefined) {
  console.error("usage: node speech.mjs MODEL VOICE FORMAT INPUT OUT_PATH");
  process.exit(2);
}

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 }); // base URL and key from the environment

try {
  const response = await client.audio.speech.create({ model, voice, input, response_format: responseFormat });
  const audio = Buffer.from(await response.arrayBuffer());
  await writeFile(outPath, audio);
  console.log(JSON.stringify({ content_type: response.headers.get("content-type"), bytes: audio.length }));
} catch (err) {
  if (!(err instanceof OpenAI.APIError)) throw err;
  console.log(JSON.stringify({ error: { status: err.status ?? null, message: err.message } }));
  process.exit(1);
}
