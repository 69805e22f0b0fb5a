// Drives an OpenAI-compatible endpoint with the official `openai` npm client and prints one
// JSON object with what it saw. Usage:
//   node openai_client.mjs <baseURL> <apiKey> <model> [scenario...]
// Scenarios: chat, chat_stream, completion, completion_stream, models, error:<model>:<expect>
// (a request that must fail; <expect> is the HTTP status), error_key:<key>:<status>,
// error_nomodel (no model in the body), error_big (a body over the gateway's limit); and the
// same scenarios as ../python/openai_client.py for the rest of the OpenAI surface:
// model_retrieve, embeddings, chat_logprobs, completion_logprobs, chat_tools,
// chat_tools_stream, json_object, json_schema, responses, responses_stream, bad_tool_schema.
import OpenAI from "openai";

const [baseURL, apiKey, model, ...scenarios] = process.argv.slice(2);
const defaultHeaders = process.env.E2E_HOST ? { Host: process.env.E2E_HOST } : {};
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000, defaultHeaders });
const out = {};

const WEATHER = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string" },
        days: { type: "integer", minimum: 1, maximum: 7 },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["city", "days", "unit"],
    },
  },
};
const PERSON = {
  type: "object",
  properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } },
  required: ["name", "age"],
};
const asJson = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
};
const ask = (content) => [{ role: "user", content }];

const newSurface = {
  model_retrieve: async () => {
    const m = await client.models.retrieve(model);
    return { id: m.id, object: m.object };
  },
  embeddings: async () => {
    const r = await client.embeddings.create({ model, input: ["first text", "a second, longer text"] });
    const again = await client.embeddings.create({ model, input: "first text" });
    return {
      count: r.data.length,
      dims: r.data.map((d) => d.embedding.length),
      index: r.data.map((d) => d.index),
      prompt_tokens: r.usage.prompt_tokens,
      same: JSON.stringify(r.data[0].embedding) === JSON.stringify(again.data[0].embedding),
    };
  },
  chat_logprobs: async () => {
    const r = await client.chat.completions.create({
      model, messages: ask("tell me something"), max_tokens: 5, logprobs: true, top_logprobs: 2,
    });
    const content = r.choices[0].logprobs.content;
    return {
      tokens: content.length,
      completion_tokens: r.usage.completion_tokens,
      logprobs: content.map((t) => t.logprob),
      top: content.map((t) => t.top_logprobs.length),
    };
  },
  completion_logprobs: async () => {
    const r = await client.completions.create({ model, prompt: "say something", max_tokens: 5, logprobs: 2 });
    const lp = r.choices[0].logprobs;
    return {
      tokens: lp.tokens.length,
      token_logprobs: lp.token_logprobs,
      top: lp.top_logprobs.map((t) => Object.keys(t).length),
      completion_tokens: r.usage.completion_tokens,
    };
  },
  chat_tools: async () => {
    const r = await client.chat.completions.create({
      model, messages: ask("weather in Paris?"), tools: [WEATHER], tool_choice: "required",
    });
    const calls = r.choices[0].message.tool_calls ?? [];
    return {
      finish: r.choices[0].finish_reason,
      names: calls.map((c) => c.function.name),
      arguments: calls.map((c) => asJson(c.function.arguments)),
      ids: calls.map((c) => c.id),
    };
  },
  chat_tools_stream: async () => {
    const stream = await client.chat.completions.create({
      model, messages: ask("weather in Paris?"), tools: [WEATHER], tool_choice: "required", stream: true,
    });
    const calls = new Map();
    let finish = null;
    for await (const chunk of stream)
      for (const c of chunk.choices) {
        for (const d of c.delta?.tool_calls ?? []) {
          if (!calls.has(d.index)) calls.set(d.index, { name: "", arguments: "" });
          const call = calls.get(d.index);
          call.name += d.function?.name ?? "";
          call.arguments += d.function?.arguments ?? "";
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
    return {
      finish,
      names: [...calls.values()].map((c) => c.name),
      arguments: [...calls.values()].map((c) => asJson(c.arguments)),
    };
  },
  json_object: async () => {
    const r = await client.chat.completions.create({
      model, messages: ask("answer in JSON"), max_tokens: 200, response_format: { type: "json_object" },
    });
    return { parsed: asJson(r.choices[0].message.content) !== null };
  },
  json_schema: async () => {
    const r = await client.chat.completions.create({
      model, messages: ask("a person"), max_tokens: 200,
      response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON } },
    });
    return { value: asJson(r.choices[0].message.content) };
  },
  responses: async () => {
    const r = await client.responses.create({
      model, input: "write a line", max_output_tokens: 8, instructions: "be brief",
    });
    return {
      object: r.object, status: r.status, text: r.output_text,
      output_tokens: r.usage.output_tokens, input_tokens: r.usage.input_tokens,
    };
  },
  responses_stream: async () => {
    const stream = await client.responses.create({ model, input: "write a line", max_output_tokens: 8, stream: true });
    const types = [];
    let text = "";
    let completed = null;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") completed = event.response.output_text ?? null;
    }
    return { types: [...new Set(types)].sort(), first: types.slice(0, 1), last: types.slice(-1), text, completed_text: completed };
  },
  bad_tool_schema: async () => {
    const bad = {
      type: "function",
      function: { name: "f", parameters: { type: "object", properties: { x: { type: "no-such-type" } } } },
    };
    try {
      await client.chat.completions.create({ model, messages: ask("x"), tools: [bad] });
      return { status: 200 };
    } catch (e) {
      return { status: e.status, class: e.constructor.name };
    }
  },
};

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
  } else if (name in newSurface) {
    out[name] = await newSurface[name]();
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
