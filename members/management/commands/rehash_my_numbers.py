from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from members.services import VaultError, my_numbers_rehash


class Command(BaseCommand):
    help = (
        "MY_NUMBER_HASH_KEY を変えたあとに実行します。すべての個人番号を復号して照合用ハッシュを"
        "新しい鍵で作り直し、鍵の指紋を記録します。これが終わるまで、ほかの処理は起動しません。"
    )
    # The system checks refuse a changed hash key: this command is the way out of that.
    requires_system_checks = []

    def handle(self, *args, **options):
        try:
            count = my_numbers_rehash()
        except VaultError as error:
            raise CommandError(str(error)) from None
        except IntegrityError:
            raise CommandError(
                "照合用ハッシュの保存中に一意制約の違反が起きたため、何も変更せずに中止しました。"
                "もう一度実行してください。"
            ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{count:,}件の照合用ハッシュを新しい鍵で作り直し、鍵の指紋を記録しました。"
            )
        )
