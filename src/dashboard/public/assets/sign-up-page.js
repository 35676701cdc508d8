import { startAuthForm } from './auth-form.js';

startAuthForm('/v1/signup', (form) => ({
  accountName: form.elements.accountName.value.trim(),
  email: form.elements.email.value.trim(),
  password: form.elements.password.value,
}));
