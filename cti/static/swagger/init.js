// Swagger UI for /docs, from the files beside this one (swagger-ui-dist, see README.md here):
// no CDN, no inline script, no call to the public validator.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  persistAuthorization: false,
});
