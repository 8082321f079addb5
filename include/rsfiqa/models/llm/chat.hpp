// SPDX-License-Identifier: MIT
// Chat prompt formatting for instruct models: ChatML (Qwen, SmolLM2), Llama 3,
// Llama 2 / Mistral [INST] and Zephyr (TinyLlama), chosen from the GGUF
// `tokenizer.chat_template` by recognising its marker strings (we do not run
// Jinja), or ChatML when the file has no template but the vocabulary has
// <|im_start|>. The output is text with special-token markers; encode it with
// parse_special = true.
//
// What it does not do: no Jinja evaluation, no tool calls, no multi-modal
// parts; templates of other forms are reported as unsupported.
#pragma once

#include <string>
#include <vector>

#include "rsfiqa/core/status.hpp"

namespace rsfiqa::llm {

enum class ChatTemplate { kChatML, kLlama3, kLlama2, kZephyr };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Picks the template from the GGUF template text (may be empty) and whether
// the vocabulary has <|im_start|>.
inline Result<ChatTemplate> detect_chat_template(const std::string& tmpl, bool vocab_has_im_start) {
  auto has = [&](const char* s) { return tmpl.find(s) != std::string::npos; };
  if (has("<|im_start|>")) return ChatTemplate::kChatML;
  if (has("<|start_header_id|>")) return ChatTemplate::kLlama3;
  if (has("<|user|>") && has("<|assistant|>")) return ChatTemplate::kZephyr;
  if (has("[INST]")) return ChatTemplate::kLlama2;
  if (tmpl.empty() && vocab_has_im_start) return ChatTemplate::kChatML;
  if (tmpl.empty())
    return make_error(ErrorCode::kNotFound, "chat: the model has no tokenizer.chat_template and no <|im_start|> token");
  return make_error(ErrorCode::kUnsupportedFormat, "chat: unrecognised chat template (first 80 bytes: '%.80s')",
                    tmpl.c_str());
}

// The conversation rendered for generation: ends with the opening of the
// assistant turn.
inline std::string format_chat(ChatTemplate t, const std::vector<ChatMessage>& msgs) {
  std::string s;
  switch (t) {
    case ChatTemplate::kChatML:
      for (const ChatMessage& m : msgs) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      s += "<|im_start|>assistant\n";
      break;
    case ChatTemplate::kLlama3:
      for (const ChatMessage& m : msgs)
        s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatTemplate::kZephyr:
      for (const ChatMessage& m : msgs) s += "<|" + m.role + "|>\n" + m.content + "</s>\n";
      s += "<|assistant|>\n";
      break;
    case ChatTemplate::kLlama2: {
      std::string sys;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") {
          sys = "<<SYS>>\n" + m.content + "\n<</SYS>>\n\n";
        } else if (m.role == "user") {
          s += "[INST] " + sys + m.content + " [/INST]";
          sys.clear();
        } else {
          s += " " + m.content + " </s>";
        }
      }
      break;
    }
  }
  return s;
}

}  // namespace rsfiqa::llm
