// Non-stream and stream chat completions through guard with the official openai Node SDK.
// Usage: node chat.mjs BASE_URL MODEL  -> prints one JSON object with what the SDK received.
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 20000 });
const messages = [{ role: "user", content: "What is the capital of France?" }];

const whole = await client.chat.completions.create({ model, messages });
let streamed = "";
let reasoning = "";
let finish = null;
let usage = null;
const stream = await client.chat.completions.create({
  model, messages, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  for (const choice of chunk.choices) {
    streamed += choice.delta?.content ?? "";
    reasoning += choice.delta?.reasoning_content ?? "";
    finish = choice.finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
let error = null;
try {
  await client.chat.completions.create({ model: "no-such-model", messages });
} catch (e) {
  error = { status: e.status, type: e.type ?? e.error?.type ?? null };
}
console.log(JSON.stringify({
  content: whole.choices[0].message.content,
  reasoning: whole.choices[0].message.reasoning_content ?? null,
  model: whole.model,
  streamed, streamedReasoning: reasoning, finish, usage, error,
}));
