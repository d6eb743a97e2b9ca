// Types only in the real package (@inai-dev/backend imports nothing from it at run time).
module.exports = {};
