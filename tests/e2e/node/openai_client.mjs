// Drives an OpenAI-compatible endpoint with the official `openai` npm client and prints one
// JSON object with what it saw. Usage:
//   node openai_client.mjs <baseURL> <apiKey> <model> [scenario...]
// Scenarios: chat, chat_stream, completion, completion_stream, models, error:<model>:<expect>
// (a request that must fail; <expect> is the HTTP status), error_key:<key>:<status>,
// error_nomodel (no model in the body), error_big (a body over the gateway's limit).
import OpenAI from "openai";

const [baseURL, apiKey, model, ...scenarios] = process.argv.slice(2);
const defaultHeaders = process.env.E2E_HOST ? { Host: process.env.E2E_HOST } : {};
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000, defaultHeaders });
const out = {};

async function run(name) {
  if (name === "chat") {
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "hello from the node client" }],
      max_tokens: 20,
    });
    out.chat = {
      text: r.choices[0].message.content,
      finish: r.choices[0].finish_reason,
      usage: r.usage,
      object: r.object,
    };
  } else if (name === "chat_stream") {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "stream this back to me please" }],
      max_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let chunks = 0;
    let finish = null;
    let usage = null;
    let role = null;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta?.role) role = c.delta.role;
        if (c.delta?.content) text += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    out.chat_stream = { text, chunks, finish, usage, role };
  } else if (name === "completion") {
    const r = await client.completions.create({ model, prompt: "complete this prompt", max_tokens: 10 });
    out.completion = { text: r.choices[0].text, finish: r.choices[0].finish_reason, usage: r.usage };
  } else if (name === "completion_stream") {
    const stream = await client.completions.create({
      model,
      prompt: "stream a completion",
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.text ?? "";
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    out.completion_stream = { text, finish, usage };
  } else if (name === "models") {
    const list = await client.models.list();
    out.models = list.data.map((m) => m.id);
  } else if (name.startsWith("error:") || name.startsWith("error_key:")) {
    const [kind, arg, expect] = name.split(":");
    const c = kind === "error_key"
      ? new OpenAI({ baseURL, apiKey: arg, maxRetries: 0, timeout: 20000, defaultHeaders })
      : client;
    const m = kind === "error_key" ? model : arg;
    try {
      await c.chat.completions.create({ model: m, messages: [{ role: "user", content: "x" }], max_tokens: 2 });
      out[name] = { status: 200, class: "none" };
    } catch (e) {
      out[name] = { status: e.status, class: e.constructor.name, code: e.code ?? null, expect: Number(expect) };
    }
  } else if (name === "error_nomodel" || name === "error_big") {
    // A body without a model (400), or one larger than the gateway's body limit (413).
    const body =
      name === "error_nomodel"
        ? { messages: [{ role: "user", content: "x" }] }
        : { model, messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] };
    try {
      await client.chat.completions.create(body);
      out[name] = { status: 200, class: "none" };
    } catch (e) {
      out[name] = { status: e.status, class: e.constructor.name, code: e.code ?? null };
    }
  } else {
    throw new Error("unknown scenario " + name);
  }
}

try {
  for (const s of scenarios) await run(s);
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ ...out, failure: String(e), status: e.status ?? null }));
  process.exit(1);
}
