// Starts Swagger UI on /docs with the configuration the server wrote into the page, so the
// page needs no inline script and keeps its Content-Security-Policy at script-src 'self'.
"use strict";

(function startSwaggerUI() {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle !== "function") return;
  const config = JSON.parse(root.dataset.config);
  config.presets = [SwaggerUIBundle.presets.apis];
  window.ui = SwaggerUIBundle(config);
})();
