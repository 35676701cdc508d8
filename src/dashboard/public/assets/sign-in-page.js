import { startAuthForm } from './auth-form.js';

startAuthForm('/v1/login', (form) => ({
  email: form.elements.email.value.trim(),
  password: form.elements.password.value,
}));
