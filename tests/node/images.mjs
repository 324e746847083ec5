// POST /v1/images/generations through the official openai Node SDK (tests/images/test_images_node.py runs it).
//
//   OPENAI_BASE_URL=http://host/v1 OPENAI_API_KEY=... node images.mjs PARAMS_JSON OUT_DIR
//
// PARAMS_JSON is the body given to client.images.generate. Each b64_json image is decoded and written
// to OUT_DIR/image-<index>.<output_format>. Prints one JSON line:
//   {"created": ..., "size": ..., "output_format": ..., "data": [{"b64_len", "file", "revised_prompt"} | {"url", "revised_prompt"}]}
// On an API error prints {"error": {"status", "message", "code", "param"}} and exits 1.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import OpenAI from "openai";

const [paramsJson, outDir] = process.argv.slice(2);
if (outDir === undefined) {
  console.error("usage: node images.mjs PARAMS_JSON OUT_DIR");
  process.exit(2);
}

const client = new OpenAI({ maxRetries: 0, timeout: 60_000 }); // base URL and key from the environment

try {
  const response = await client.images.generate(JSON.parse(paramsJson));
  const extension = response.output_format ?? "png";
  const data = [];
  for (const [index, item] of (response.data ?? []).entries()) {
    const printed = {};
    if (item.b64_json !== undefined) {
      const file = join(outDir, `image-${index}.${extension}`);
      await writeFile(file, Buffer.from(item.b64_json, "base64"));
      printed.b64_len = item.b64_json.length;
      printed.file = file;
    }
    if (item.url !== undefined) printed.url = item.url;
    if (item.revised_prompt !== undefined) printed.revised_prompt = item.revised_prompt;
    data.push(printed);
  }
  console.log(
    JSON.stringify({ created: response.created, size: response.size, output_format: response.output_format, data }),
  );
} catch (err) {
  if (!(err instanceof OpenAI.APIError)) throw err;
  console.log(
    JSON.stringify({
      error: { status: err.status ?? null, message: err.message, code: err.code ?? null, param: err.param ?? null },
    }),
  );
  process.exit(1);
}
