// A checked stream read the way most apps read one: chunk.choices[0] on every chunk.
// Usage: node checked_stream.mjs BASE_URL MODEL -> one JSON object: the text, finish, verdict.
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 20000 });
const stream = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "What is the capital of France?" }], stream: true,
});
let text = "";
let finish = null;
let guard = null;
for await (const chunk of stream) {
  text += chunk.choices[0].delta.content ?? ""; // a TypeError here if a chunk has no choice
  finish = chunk.choices[0].finish_reason ?? finish;
  if (chunk.guard) guard = chunk.guard;
}
console.log(JSON.stringify({ text, finish, decision: guard?.decision ?? null }));
