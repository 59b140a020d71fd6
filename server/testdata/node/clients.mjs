// clients.mjs asks fastslow serve questions through the ollama and openai npm packages, the way a Node
// application would, and sends feedback on their answers. server/node_test.go runs it (after npm ci into a
// temporary directory) and checks what it prints.
//
// Usage: node clients.mjs '<json job>'
//   job: {"base": "http://127.0.0.1:PORT", "token": "", "model": "people",
//         "asks": [{"client": "ollama.generate", "question": "...", "answer": "...", "feedback": true}]}
// For each ask it prints one JSON line: {client, question, first, id, again?}. With "feedback" it posts
// {id, score, answer} to /fastslow/feedback (score 1 if the first answer was right, else 0) and asks again.
import { Ollama } from 'ollama';
import OpenAI from 'openai';

const job = JSON.parse(process.argv[2]);
const headers = job.token ? { Authorization: `Bearer ${job.token}` } : {};
const ollama = new Ollama({ host: job.base, headers });
const openai = new OpenAI({ baseURL: `${job.base}/v1`, apiKey: job.token || 'unused', maxRetries: 0 });
const options = { num_predict: 8, temperature: 0 };

// Each client returns [text, fastslow id].
const clients = {
  'ollama.generate': async (model, q) => {
    const r = await ollama.generate({ model, prompt: q, stream: false, options });
    return [r.response, r.fastslow_id];
  },
  'ollama.generate stream': async (model, q) => {
    let text = '', id = '';
    for await (const part of await ollama.generate({ model, prompt: q, stream: true, options })) {
      text += part.response;
      id ||= part.fastslow_id;
    }
    return [text, id];
  },
  'ollama.chat': async (model, q) => {
    const r = await ollama.chat({ model, messages: [{ role: 'user', content: q }], stream: false, options });
    return [r.message.content, r.fastslow_id];
  },
  'ollama.chat stream': async (model, q) => {
    let text = '', id = '';
    for await (const part of await ollama.chat({ model, messages: [{ role: 'user', content: q }], stream: true, options })) {
      text += part.message.content;
      id ||= part.fastslow_id;
    }
    return [text, id];
  },
  'openai.chat.completions': async (model, q) => {
    const { data, response } = await openai.chat.completions
      .create({ model, messages: [{ role: 'user', content: q }], max_tokens: 8, temperature: 0 })
      .withResponse();
    return [data.choices[0].message.content, response.headers.get('x-fastslow-id') || data.fastslow_id];
  },
  'openai.chat.completions stream': async (model, q) => {
    const { data: stream, response } = await openai.chat.completions
      .create({ model, messages: [{ role: 'user', content: q }], max_tokens: 8, temperature: 0, stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return [text, response.headers.get('x-fastslow-id')];
  },
};

const right = (out, answer) => out.trim().startsWith(answer);

for (const a of job.asks) {
  const ask = clients[a.client];
  if (!ask) throw new Error(`no client ${a.client}`);
  const [first, id] = await ask(job.model, a.question);
  const line = { client: a.client, question: a.question, first, id: id ?? '' };
  if (a.feedback) {
    const res = await fetch(`${job.base}/fastslow/feedback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify({ id, score: right(first, a.answer) ? 1 : 0, answer: a.answer }),
    });
    if (!res.ok) throw new Error(`feedback on ${id}: HTTP ${res.status} ${await res.text()}`);
    line.feedback = await res.json();
    [line.again] = await ask(job.model, a.question);
  }
  console.log(JSON.stringify(line));
}
