// The keyward header above Swagger UI at /docs: the brand, what the page is, and the way back to the
// dashboard. Swagger UI's page is the plugin's own (@fastify/swagger-ui), so the header is added here, from
// this same-origin script (the docs' CSP allows no inline code).

const header = document.createElement('header');
header.className = 'kw-docs-header';

const brand = document.createElement('a');
brand.className = 'kw-docs-brand';
brand.href = '/';
const logo = document.createElement('img');
logo.src = '/assets/logo.svg';
logo.alt = '';
logo.width = 24;
logo.height = 24;
brand.append(logo, 'keyward');

const title = document.createElement('span');
title.className = 'kw-docs-title';
title.textContent = 'API reference';

const back = document.createElement('a');
back.className = 'kw-docs-back';
back.href = '/';
back.textContent = '← Back to the dashboard';

header.append(brand, title, back);
document.body.prepend(header);
