// The schema of each kind dittoctl serves: which fields exist and what type
// each has (ValidateObject checks objects against it).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ditto::control {

enum class SchemaType {
  kString,
  kInt,
  kBool,
  kQuantity,
  kStringMap,
  kQuantityMap,
  kObject,
  kArray,
  kAny
};

struct Schema {
  SchemaType type = SchemaType::kAny;
  std::map<std::string, std::shared_ptr<Schema>> fields;  // kObject
  std::shared_ptr<Schema> items;                          // kArray
  std::vector<std::string> values;                        // allowed strings, if any
};
using SchemaPtr = std::shared_ptr<Schema>;

// Kind name -> the schema of its objects.
const std::map<std::string, SchemaPtr>& Schemas();

}  // namespace ditto::control
