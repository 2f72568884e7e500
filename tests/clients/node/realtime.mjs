// The official `openai` Node package's realtime WebSocket client (OpenAIRealtimeWS), used as its docs
// show, against a served playground: `node realtime.mjs <base URL, e.g. https://127.0.0.1:8443/v1> <token>`.
// It asks for an answer in audio with a voice and semantic VAD, calls the one function tool the model
// calls, sends its output, and prints what it saw as one JSON line: errors, the call, the transcript,
// the audio it got (bytes, the format the session named).
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey });
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);

const seen = { errors: [], types: [], calls: [], transcript: "", audioBytes: 0, session: null };
const finish = (code) => {
  console.log(JSON.stringify(seen));
  rt.close();
  process.exit(code);
};
setTimeout(() => finish(2), 20000);

rt.on("error", (err) => seen.errors.push(err.error ?? { message: String(err.message ?? err) }));
rt.on("event", (event) => seen.types.push(event.type));
rt.on("session.updated", (event) => {
  seen.session = event.session;
});
rt.on("response.output_audio.delta", (event) => {
  seen.audioBytes += Buffer.from(event.delta, "base64").length;
});
rt.on("response.output_audio_transcript.done", (event) => {
  seen.transcript += event.transcript;
});
rt.on("response.done", (event) => {
  const call = event.response.output.find((item) => item.type === "function_call");
  if (call) {
    seen.calls.push({ name: call.name, arguments: JSON.parse(call.arguments) });
    const output = `Sunny, 21 degrees in ${JSON.parse(call.arguments).city}`;
    rt.send({ type: "conversation.item.create", item: { type: "function_call_output", call_id: call.call_id, output } });
    rt.send({ type: "response.create" });
  } else if (seen.calls.length) {
    finish(0);
  }
});

rt.socket.on("open", () => {
  rt.send({
    type: "session.update",
    session: {
      type: "realtime",
      output_modalities: ["audio"],
      instructions: "Use the tools.",
      audio: {
        input: { format: { type: "audio/pcm", rate: 24000 }, turn_detection: { type: "semantic_vad", eagerness: "high" } },
        output: { format: { type: "audio/pcm", rate: 24000 }, voice: "coral" },
      },
      tools: [
        {
          type: "function",
          name: "get_weather",
          description: "Current weather in a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      ],
    },
  });
  rt.send({
    type: "conversation.item.create",
    item: { type: "message", role: "user", content: [{ type: "input_text", text: "What is the weather in Oslo?" }] },
  });
  rt.send({ type: "response.create" });
});
