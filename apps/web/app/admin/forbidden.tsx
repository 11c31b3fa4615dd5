/** What a signed-in person who is not an administrator sees on the admin and audit pages. */
export function AdministratorsOnly() {
  return (
    <section className="card" data-testid="forbidden">
      <h1>403: administrators only</h1>
      <p>This page is for Depot administrators. Ask an administrator if you need access.</p>
      <p>
        <a href="/dashboard">Back to the dashboard</a>
      </p>
    </section>
  );
}
